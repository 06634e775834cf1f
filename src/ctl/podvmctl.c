/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl: the command-line client of podvmd, over D-Bus. main() parses
 * the global options and hands the rest to one subcommand of the table
 * below; each subcommand lives in its own podvmctl-<verb>.c.
 */
#include "podvm-build-config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"
#include "podvmctl.h"

typedef struct {
    const char *name;
    PodvmCtlCommandFunc func;
    const char *summary;
} PodvmCtlCommand;

static const PodvmCtlCommand commands[] = {
    { "create", podvmctl_cmd_create, N_("Create a pod from a JSON or YAML file") },
    { "run", podvmctl_cmd_run,
      N_("Run an app pod from an image (or a pod from a file) and attach its console") },
    { "list", podvmctl_cmd_list, N_("List pods") },
    { "show", podvmctl_cmd_show, N_("Show a pod's metadata, spec and status") },
    { "status", podvmctl_cmd_status, N_("Show a pod's phase and its apps' states") },
    { "start", podvmctl_cmd_start, N_("Start a pod") },
    { "stop", podvmctl_cmd_stop, N_("Stop a pod gracefully") },
    { "kill", podvmctl_cmd_kill, N_("Stop a pod at once") },
    { "pause", podvmctl_cmd_pause, N_("Pause a running pod") },
    { "resume", podvmctl_cmd_resume, N_("Resume a paused pod") },
    { "restart", podvmctl_cmd_restart, N_("Stop a pod and start it again") },
    { "delete", podvmctl_cmd_delete, N_("Delete a pod") },
    { "console", podvmctl_cmd_console, N_("Attach to a pod's serial console") },
    { "logs", podvmctl_cmd_logs, N_("Print a pod's console log") },
    { "events", podvmctl_cmd_events, N_("Print events as they happen") },
    { "attach-disk", podvmctl_cmd_attach_disk, N_("Hotplug a disk into a pod") },
    { "detach-disk", podvmctl_cmd_detach_disk, N_("Unplug a disk from a pod") },
    { "attach-nic", podvmctl_cmd_attach_nic, N_("Hotplug a network interface into a pod") },
    { "detach-nic", podvmctl_cmd_detach_nic, N_("Unplug a network interface from a pod") },
    { "volume", podvmctl_cmd_volume, N_("Create, list, show and delete storage volumes") },
    { "migrate", podvmctl_cmd_migrate, N_("Move a running pod to another podvmd") },
    { "drain", podvmctl_cmd_drain,
      N_("Empty this host: migrate the LiveMigrate pods, stop the others") },
    { "image", podvmctl_cmd_image, N_("Pull, list and remove images from registries") },
    { "exec", podvmctl_cmd_exec, N_("Run a command in an app of a running app pod") },
    { "guestosinfo", podvmctl_cmd_guestosinfo,
      N_("Print the guest's OS as its guest agent tells it") },
    { "freeze", podvmctl_cmd_freeze, N_("Freeze the guest's filesystems (guest agent)") },
    { "unfreeze", podvmctl_cmd_unfreeze, N_("Thaw the guest's filesystems (guest agent)") },
    { "qmp", podvmctl_cmd_qmp, N_("Send a QMP command to a pod's QEMU (expert)") },
    { "version", podvmctl_cmd_version, N_("Print the client's and podvmd's versions") },
};

static const PodvmCtlCommand *
find_command(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_str_equal(commands[i].name, name))
            return &commands[i];
    }
    return NULL;
}

static char *
commands_description(void)
{
    GString *text = g_string_new(_("Commands:"));

    g_string_append_c(text, '\n');
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        g_string_append_printf(text, "  %-12s %s\n", commands[i].name, _(commands[i].summary));
    g_string_append_c(text, '\n');
    g_string_append(text, _("Run 'podvmctl COMMAND --help' for the options of a command.\n"
                            "The bus is the system bus unless --session is given or "
                            "PODVM_BUS=session is set."));
    return g_string_free(text, FALSE);
}

static void
ctl_clear(PodvmCtl *ctl)
{
    g_clear_object(&ctl->manager);
    g_clear_object(&ctl->connection);
}

static int
run_help(PodvmCtl *ctl, GOptionContext *context, int argc, char **argv)
{
    const PodvmCtlCommand *command;
    char *help_argv[] = { NULL, (char *)"--help", NULL };
    g_autofree char *help = NULL;
    g_autofree char *prgname = NULL;

    if (argc < 2) {
        help = g_option_context_get_help(context, TRUE, NULL);
        fputs(help, stdout);
        return PODVMCTL_EXIT_OK;
    }
    command = find_command(argv[1]);
    if (command == NULL)
        return podvmctl_usage_error(NULL, _("unknown command '%s'"), argv[1]);

    /* The command's GOptionContext prints its help and exits. */
    help_argv[0] = argv[1];
    prgname = g_strdup_printf("podvmctl %s", command->name);
    g_set_prgname(prgname);
    return command->func(ctl, 2, help_argv);
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *description = NULL;
    g_autofree char *prgname = NULL;
    PodvmCtl ctl = { .bus_type = G_BUS_TYPE_SYSTEM };
    const PodvmCtlCommand *command;
    const char *bus_env;
    gboolean opt_session = FALSE;
    gboolean opt_system = FALSE;
    gboolean opt_version = FALSE;
    gboolean opt_list_commands = FALSE;
    int status;
    const GOptionEntry entries[] = {
        { "session", 0, 0, G_OPTION_ARG_NONE, &opt_session, N_("Talk to podvmd on the session bus"),
          NULL },
        { "system", 0, 0, G_OPTION_ARG_NONE, &opt_system,
          N_("Talk to podvmd on the system bus (the default)"), NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Print the version and exit"),
          NULL },
        /* For the shell completions: "NAME\tSUMMARY" lines, so they know every command. */
        { "list-commands", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_list_commands, NULL,
          NULL },
        { NULL },
    };

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, PODVM_LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    g_set_prgname("podvmctl");

    context = g_option_context_new(_("COMMAND [ARGUMENT…]"));
    g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
    g_option_context_set_summary(context, _("Manage pods that podvmd runs as virtual machines."));
    description = commands_description();
    g_option_context_set_description(context, description);
    g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
    /* Stop at the command: what follows belongs to it. */
    g_option_context_set_strict_posix(context, TRUE);
    if (!g_option_context_parse(context, &argc, &argv, &error))
        return podvmctl_usage_error(NULL, "%s", error->message);

    if (opt_version) {
        g_print("podvmctl %s\n", PODVM_VERSION);
        return PODVMCTL_EXIT_OK;
    }
    if (opt_list_commands) {
        for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
            g_print("%s\t%s\n", commands[i].name, _(commands[i].summary));
        return PODVMCTL_EXIT_OK;
    }

    bus_env = g_getenv("PODVM_BUS");
    if (bus_env != NULL && *bus_env != '\0') {
        if (g_str_equal(bus_env, "session"))
            ctl.bus_type = G_BUS_TYPE_SESSION;
        else if (!g_str_equal(bus_env, "system"))
            return podvmctl_usage_error(NULL,
                                        _("PODVM_BUS is '%s'; expected 'system' or "
                                          "'session'"),
                                        bus_env);
    }
    if (opt_session && opt_system)
        return podvmctl_usage_error(NULL, _("--session and --system exclude each other"));
    if (opt_session)
        ctl.bus_type = G_BUS_TYPE_SESSION;
    else if (opt_system)
        ctl.bus_type = G_BUS_TYPE_SYSTEM;

    if (argc < 2)
        return podvmctl_usage_error(NULL, _("no command given"));

    if (g_str_equal(argv[1], "help"))
        return run_help(&ctl, context, argc - 1, argv + 1);

    command = find_command(argv[1]);
    if (command == NULL)
        return podvmctl_usage_error(NULL, _("unknown command '%s'"), argv[1]);

    prgname = g_strdup_printf("podvmctl %s", command->name);
    g_set_prgname(prgname);
    status = command->func(&ctl, argc - 1, argv + 1);
    ctl_clear(&ctl);
    return status;
}
