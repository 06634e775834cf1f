/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU argv builder: golden files (tests/golden/argv/NAME.json is a pod
 * spec, NAME.argv the expected argv, one argument per line), the escaping
 * rules, accelerator detection, and real QEMU accepting every argv.
 *
 * PODVM_TEST_REGENERATE=1 rewrites the .argv files from the current output;
 * review the diff before committing it.
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-qemu-argv.h"
#include "podvm-spec.h"
#include "podvm-test-util.h"

#define TEST_UID "0b4f2b7e-9a57-4d3f-8f0e-6a1d2c3b4a59"
#define QMP_CHILD_FD 3
#define CONSOLE_CHILD_FD 4

/* One golden case: the spec file and the host facts that go with it. */
typedef struct {
    const char *name;
    PodvmAccel accel;
    gboolean debug;
    gboolean pidfile;
    gboolean listen_fds; /* podvmd binds the sockets and passes fds 3 and 4 */
    guint host_cpus;
} GoldenCase;

static const GoldenCase golden_cases[] = {
    { "minimal", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "debug", PODVM_ACCEL_TCG, TRUE, FALSE, FALSE, 4 },
    { "kvm-fds", PODVM_ACCEL_KVM, FALSE, TRUE, TRUE, 4 },
    { "no-serial", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "topology", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "firmware", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "path-commas", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "apps", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "apps-host-cpus", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 6 },
    { "rng", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
    { "machine-pc", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4 },
};

/* The context of a golden case, with run_dir-like paths that are the same everywhere. */
typedef struct {
    PodvmQemuArgvContext ctx;
    char *qmp_socket;
    char *console_socket;
    char *console_log;
    char *pidfile;
} Context;

static void
context_clear(Context *c)
{
    g_free(c->qmp_socket);
    g_free(c->console_socket);
    g_free(c->console_log);
    g_free(c->pidfile);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Context, context_clear)

static void
context_init(Context *c, const GoldenCase *tc, const char *run_dir, const char *pod)
{
    memset(c, 0, sizeof(*c));
    c->qmp_socket = g_build_filename(run_dir, "pods", pod, "qmp.sock", NULL);
    c->console_socket = g_build_filename(run_dir, "pods", pod, "console.sock", NULL);
    c->console_log = g_build_filename(run_dir, "pods", pod, "console.log", NULL);
    if (tc->pidfile)
        c->pidfile = g_build_filename(run_dir, "pods", pod, "qemu.pid", NULL);
    c->ctx.qemu_binary = "qemu-system-x86_64";
    c->ctx.accel = tc->accel;
    c->ctx.uid = TEST_UID;
    c->ctx.qmp_socket = c->qmp_socket;
    c->ctx.console_socket = c->console_socket;
    c->ctx.console_log = c->console_log;
    c->ctx.pidfile = c->pidfile;
    c->ctx.qmp_listen_fd = tc->listen_fds ? QMP_CHILD_FD : -1;
    c->ctx.console_listen_fd = tc->listen_fds ? CONSOLE_CHILD_FD : -1;
    c->ctx.host_cpus = tc->host_cpus;
    c->ctx.debug = tc->debug;
}

static PodvmSpec *
load_spec(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".json", NULL);
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "argv", file, NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) error = NULL;
    gsize length;
    PodvmSpec *spec;

    g_file_get_contents(path, &data, &length, &error);
    g_assert_no_error(error);
    spec = podvm_spec_parse_data(data, length, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(spec);
    return spec;
}

static gssize
argv_index(GStrv argv, const char *arg)
{
    for (gsize i = 0; argv[i] != NULL; i++) {
        if (strcmp(argv[i], arg) == 0)
            return (gssize)i;
    }
    return -1;
}

/* The value after the first occurrence of @option, or NULL. */
static const char *
option_value(GStrv argv, const char *option)
{
    gssize i = argv_index(argv, option);

    return i >= 0 && argv[i + 1] != NULL ? argv[i + 1] : NULL;
}

static guint
count_option(GStrv argv, const char *option)
{
    guint n = 0;

    for (gsize i = 0; argv[i] != NULL; i++)
        n += strcmp(argv[i], option) == 0;
    return n;
}

/* What every argv must hold, whatever the spec. */
static void
assert_invariants(GStrv argv, const PodvmSpec *spec)
{
    g_assert_cmpstr(argv[0], ==, "qemu-system-x86_64");
    g_assert_cmpint(argv_index(argv, "-S"), >, 0);
    g_assert_cmpint(argv_index(argv, "-nodefaults"), >, 0);
    g_assert_cmpint(argv_index(argv, "-no-user-config"), >, 0);
    g_assert_cmpint(argv_index(argv, "-no-shutdown"), <, 0);
    g_assert_cmpstr(option_value(argv, "-display"), ==, "none");
    g_assert_cmpstr(option_value(argv, "-uuid"), ==, TEST_UID);
    g_assert_cmpstr(option_value(argv, "-sandbox"), ==,
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    g_assert_cmpstr(option_value(argv, "-mon"), ==, "chardev=qmp,mode=control");
    g_assert_cmpuint(count_option(argv, "-kernel"), ==, 1);
    g_assert_cmpstr(option_value(argv, "-kernel"), ==, spec->kernel_path);
    if (spec->initrd_path != NULL)
        g_assert_cmpstr(option_value(argv, "-initrd"), ==, spec->initrd_path);
    else
        g_assert_cmpint(argv_index(argv, "-initrd"), <, 0);
    g_assert_cmpuint(count_option(argv, "-append"), ==, 1);
    for (gsize i = 0; argv[i] != NULL; i++)
        g_assert_null(strchr(argv[i], '\n'));
}

static char *
argv_to_text(GStrv argv)
{
    g_autoptr(GString) text = g_string_new(NULL);

    for (gsize i = 0; argv[i] != NULL; i++) {
        g_string_append(text, argv[i]);
        g_string_append_c(text, '\n');
    }
    return g_string_free(g_steal_pointer(&text), FALSE);
}

static void
test_golden(gconstpointer data)
{
    const GoldenCase *tc = data;
    g_autoptr(PodvmSpec) spec = load_spec(tc->name);
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) again = NULL;
    g_autofree char *text = NULL;
    g_autofree char *file = g_strconcat(tc->name, ".argv", NULL);
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "argv", file, NULL);
    g_autofree char *expected = NULL;

    context_init(&c, tc, "/run/podvm", spec->name);
    argv = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_nonnull(argv);
    assert_invariants(argv, spec);

    /* A pure function: the same input gives the same argv. */
    again = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_true(g_strv_equal((const char *const *)argv, (const char *const *)again));

    text = argv_to_text(argv);
    if (g_strcmp0(g_getenv("PODVM_TEST_REGENERATE"), "1") == 0) {
        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
        g_test_message("rewrote %s", path);
        return;
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

/* -- properties the golden files also show, asserted where they matter -- */

static GStrv
build_case(const char *name, const GoldenCase *tc, PodvmSpec **out_spec)
{
    g_autoptr(PodvmSpec) spec = load_spec(name);
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    GStrv argv;

    context_init(&c, tc, "/run/podvm", spec->name);
    argv = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_nonnull(argv);
    if (out_spec != NULL)
        *out_spec = g_steal_pointer(&spec);
    return argv;
}

static void
test_path_commas(void)
{
    g_auto(GStrv) argv = build_case("path-commas", &golden_cases[0], NULL);

    /*
     * QEMU 7.2 takes -kernel/-initrd/-append as plain strings (not key=value
     * lists): the path stays one argument, unchanged, and adds no option.
     */
    g_assert_cmpstr(option_value(argv, "-kernel"), ==, "/tmp/a,format=raw");
    g_assert_cmpstr(option_value(argv, "-initrd"), ==, "/tmp/i,if=none,id=x=y");
    g_assert_cmpstr(option_value(argv, "-append"), ==, "console=ttyS0 podvm.x=a,b -S quiet");
    for (gsize i = 0; argv[i] != NULL; i++) {
        g_assert_cmpstr(argv[i], !=, "format=raw");
        g_assert_false(g_str_has_prefix(argv[i], "if=none"));
        g_assert_false(g_str_has_prefix(argv[i], "-drive"));
    }
    g_assert_cmpuint(count_option(argv, "-S"), ==, 1);
}

static void
test_firmware_escaped(void)
{
    g_auto(GStrv) argv = build_case("firmware", &golden_cases[0], NULL);

    /* -smbios is a key=value list: the serial's commas are doubled. */
    g_assert_cmpstr(option_value(argv, "-smbios"), ==,
                    "type=1,uuid=0e6a4ad1-47e3-4c33-9d3c-7f8d2a0f5b11,"
                    "serial=SN 12,,type=2,,manufacturer=evil");
}

static void
test_sizing(void)
{
    g_autoptr(PodvmSpec) spec = NULL;
    g_auto(GStrv) apps = build_case("apps", &golden_cases[0], &spec);
    g_auto(GStrv) host = build_case("apps-host-cpus", &golden_cases[8], NULL);
    g_auto(GStrv) topology = build_case("topology", &golden_cases[0], NULL);
    g_auto(GStrv) odd = build_case("no-serial", &golden_cases[0], NULL);

    /* 256Mi + 128Mi (no memory given) + 128Mi system; 0.5 + 1.2 CPUs -> 2. */
    g_assert_cmpstr(option_value(apps, "-m"), ==, "512M");
    g_assert_cmpstr(option_value(apps, "-smp"), ==, "2");
    /* An app without cpus: the host's CPU count (6 in that case). */
    g_assert_cmpstr(option_value(host, "-m"), ==, "1280M");
    g_assert_cmpstr(option_value(host, "-smp"), ==, "6");
    g_assert_cmpstr(option_value(topology, "-smp"), ==, "4,sockets=2,cores=2,threads=1");
    g_assert_cmpstr(option_value(topology, "-cpu"), ==, "Nehalem");
    /* 100000000 bytes is 95.4 MiB: rounded up. */
    g_assert_cmpstr(option_value(odd, "-m"), ==, "96M");
}

static void
test_console_and_debug(void)
{
    g_auto(GStrv) minimal = build_case("minimal", &golden_cases[0], NULL);
    g_auto(GStrv) debug = build_case("debug", &golden_cases[1], NULL);
    g_auto(GStrv) no_serial = build_case("no-serial", &golden_cases[3], NULL);
    g_auto(GStrv) apps = build_case("apps", &golden_cases[7], NULL);

    g_assert_cmpstr(option_value(minimal, "-append"), ==, "console=ttyS0 quiet");
    g_assert_cmpstr(option_value(debug, "-append"), ==, "console=ttyS0");
    g_assert_cmpstr(option_value(no_serial, "-append"), ==, "panic=-1 quiet");
    g_assert_cmpint(argv_index(no_serial, "-serial"), <, 0);
    g_assert_cmpuint(count_option(no_serial, "-chardev"), ==, 1);
    g_assert_cmpuint(count_option(minimal, "-chardev"), ==, 2);
    g_assert_cmpstr(option_value(apps, "-append"), ==,
                    "console=ttyS0 podvm.hostname=apps-host quiet");
}

static void
test_root_ports(void)
{
    g_auto(GStrv) q35 = build_case("minimal", &golden_cases[0], NULL);
    g_auto(GStrv) versioned = build_case("topology", &golden_cases[0], NULL);
    g_auto(GStrv) pc = build_case("machine-pc", &golden_cases[0], NULL);
    guint q35_ports = 0, versioned_ports = 0;

    for (gsize i = 0; q35[i] != NULL; i++)
        q35_ports += strstr(q35[i], "\"pcie-root-port\"") != NULL;
    for (gsize i = 0; versioned[i] != NULL; i++)
        versioned_ports += strstr(versioned[i], "\"pcie-root-port\"") != NULL;
    g_assert_cmpuint(q35_ports, ==, PODVM_QEMU_SPARE_ROOT_PORTS);
    g_assert_cmpuint(versioned_ports, ==, PODVM_QEMU_SPARE_ROOT_PORTS);
    for (gsize i = 0; pc[i] != NULL; i++)
        g_assert_null(strstr(pc[i], "pcie-root-port"));
    g_assert_cmpstr(option_value(pc, "-machine"), ==, "pc,accel=tcg");
    g_assert_true(podvm_qemu_machine_is_q35("q35"));
    g_assert_true(podvm_qemu_machine_is_q35("pc-q35-7.2"));
    g_assert_false(podvm_qemu_machine_is_q35("pc"));
    g_assert_false(podvm_qemu_machine_is_q35("pc-i440fx-7.2"));
}

/* -- refused input ------------------------------------------------------ */

static void
assert_refused(PodvmSpec *spec, const PodvmQemuArgvContext *ctx, int code, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = podvm_qemu_argv_build(spec, ctx, &error);

    g_assert_null(argv);
    g_assert_error(error, PODVM_ERROR, code);
    g_assert_nonnull(strstr(error->message, needle));
}

static void
test_refused(void)
{
    g_autoptr(PodvmSpec) spec = load_spec("minimal");
    g_auto(Context) c = { 0 };
    char *saved;

    context_init(&c, &golden_cases[0], "/run/podvm", spec->name);

    /* Values that bypassed the parser still cannot smuggle options in. */
    saved = g_steal_pointer(&spec->cpu_model);
    spec->cpu_model = g_strdup("qemu64,+vmx");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.cpu.model");
    g_free(spec->cpu_model);
    spec->cpu_model = saved;

    saved = g_steal_pointer(&spec->machine_type);
    spec->machine_type = g_strdup("q35,accel=kvm");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.machine.type");
    g_free(spec->machine_type);
    spec->machine_type = saved;

    saved = g_steal_pointer(&spec->firmware_uuid);
    spec->firmware_uuid = g_strdup("not-a-uuid,type=2");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.firmware.uuid");
    g_free(spec->firmware_uuid);
    spec->firmware_uuid = saved;

    saved = g_steal_pointer(&spec->kernel_path);
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "kernelPath");
    spec->kernel_path = saved;

    c.ctx.uid = "1234,x=y";
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_ARGUMENT, "UUID");
    c.ctx.uid = TEST_UID;

    c.ctx.accel = PODVM_ACCEL_AUTO;
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_ARGUMENT, "auto");
}

static void
test_escape(void)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "", "" },
        { "plain", "plain" },
        { "a,b", "a,,b" },
        { ",,", ",,,," },
        { "/tmp/x,format=raw,", "/tmp/x,,format=raw,," },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GString) out = g_string_new("k=");

        podvm_qemu_escape_value(out, cases[i].in);
        g_assert_cmpstr(out->str + 2, ==, cases[i].out);
    }
}

/* -- accelerator -------------------------------------------------------- */

static void
test_accel_strings(void)
{
    g_autoptr(GError) error = NULL;
    PodvmAccel accel = PODVM_ACCEL_TCG;

    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_AUTO), ==, "auto");
    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_KVM), ==, "kvm");
    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_TCG), ==, "tcg");
    g_assert_true(podvm_accel_from_string("kvm", &accel, &error));
    g_assert_no_error(error);
    g_assert_cmpint(accel, ==, PODVM_ACCEL_KVM);
    g_assert_true(podvm_accel_from_string("auto", &accel, &error));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_AUTO);
    g_assert_true(podvm_accel_from_string("tcg", &accel, &error));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_TCG);

    g_assert_false(podvm_accel_from_string("KVM ", &accel, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "expected auto, kvm or tcg"));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_TCG);
    g_clear_error(&error);
    g_assert_false(podvm_accel_from_string(NULL, &accel, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
}

static char *
write_cpuinfo(const char *dir, const char *name, const char *flags)
{
    g_autoptr(GError) error = NULL;
    char *path = g_build_filename(dir, name, NULL);
    g_autofree char *text = g_strdup_printf("processor\t: 0\n"
                                            "vendor_id\t: GenuineIntel\n"
                                            "model name\t: Fake CPU with flags in its name vmx\n"
                                            "flags\t\t: %s\n"
                                            "bugs\t\t: spectre_v1\n\n"
                                            "processor\t: 1\n"
                                            "flags\t\t: %s\n",
                                            flags, flags);

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    return path;
}

/* Whether @path opens and answers KVM_GET_API_VERSION = 12 (the real /dev/kvm). */
static gboolean
kvm_answers(const char *path)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *cpuinfo = write_cpuinfo(dir, "vmx", "fpu vmx sse2");
    g_autofree char *why = NULL;
    PodvmAccel accel = podvm_accel_detect(path, cpuinfo, &why);

    podvm_test_rmrf(dir);
    return accel == PODVM_ACCEL_KVM;
}

static void
test_accel_detect(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *none = write_cpuinfo(dir, "none", "fpu vme de pse tsc msr pae vmxe svm_lock");
    g_autofree char *vmx = write_cpuinfo(dir, "vmx", "fpu vme vmx sse2");
    g_autofree char *svm = write_cpuinfo(dir, "svm", "fpu svm\tsse2");
    g_autofree char *missing_kvm = g_build_filename(dir, "no-such-kvm", NULL);
    g_autofree char *missing_cpuinfo = g_build_filename(dir, "no-such-cpuinfo", NULL);
    g_autofree char *why = NULL;

    /* No vmx/svm flag (vmxe and svm_lock are not it): TCG, whatever /dev/kvm says. */
    g_assert_cmpint(podvm_accel_detect("/dev/kvm", none, &why), ==, PODVM_ACCEL_TCG);
    g_assert_true(g_str_has_prefix(why, "using TCG: "));
    g_assert_nonnull(strstr(why, "shows neither vmx nor svm"));
    g_clear_pointer(&why, g_free);

    /* Flags present, but no KVM device. */
    g_assert_cmpint(podvm_accel_detect(missing_kvm, vmx, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "cannot open"));
    g_assert_nonnull(strstr(why, missing_kvm));
    g_clear_pointer(&why, g_free);

    /* Something that opens but is not KVM: the ioctl fails. */
    g_assert_cmpint(podvm_accel_detect(svm, svm, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "does not answer KVM_GET_API_VERSION"));
    g_clear_pointer(&why, g_free);

    g_assert_cmpint(podvm_accel_detect(missing_kvm, missing_cpuinfo, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "cannot read"));
    g_clear_pointer(&why, g_free);

    /* NULL out_why is fine. */
    g_assert_cmpint(podvm_accel_detect(missing_kvm, none, NULL), ==, PODVM_ACCEL_TCG);

    if (kvm_answers("/dev/kvm")) {
        g_assert_cmpint(podvm_accel_detect("/dev/kvm", svm, &why), ==, PODVM_ACCEL_KVM);
        g_assert_true(g_str_has_prefix(why, "using KVM: "));
        g_assert_nonnull(strstr(why, "svm"));
    } else {
        g_test_message("no usable /dev/kvm here: the KVM answer is not exercised");
    }
    podvm_test_rmrf(dir);
}

/* -- real QEMU ----------------------------------------------------------- */

typedef struct {
    GSubprocess *process;
    gboolean exited;
    GSocketConnection *qmp;
    GDataInputStream *qmp_in;
    const char *qmp_path;
} Qemu;

static void
qemu_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Qemu *q = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    q->exited = TRUE;
}

/* Connected to QMP and read the greeting, or QEMU is gone. */
static gboolean
qmp_greeted(gpointer user_data)
{
    Qemu *q = user_data;
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autofree char *line = NULL;

    if (q->exited || q->qmp != NULL)
        return TRUE;
    if (!g_file_test(q->qmp_path, G_FILE_TEST_EXISTS))
        return FALSE;
    client = g_socket_client_new();
    g_socket_client_set_timeout(client, 10);
    address = g_unix_socket_address_new(q->qmp_path);
    connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, NULL);
    if (connection == NULL)
        return FALSE;
    in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
    line = g_data_input_stream_read_line(in, NULL, NULL, NULL);
    if (line == NULL || strstr(line, "\"QMP\"") == NULL)
        return FALSE;
    q->qmp = g_steal_pointer(&connection);
    q->qmp_in = g_steal_pointer(&in);
    return TRUE;
}

static gboolean
qemu_gone(gpointer user_data)
{
    Qemu *q = user_data;

    return q->exited;
}

static gboolean
tick_cb(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

/* Sends @command and reads lines until its reply (events are skipped). */
static void
qmp_command(Qemu *q, const char *command)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(q->qmp));
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strconcat(command, "\n", NULL);

    g_output_stream_write_all(out, text, strlen(text), NULL, NULL, &error);
    g_assert_no_error(error);
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line(q->qmp_in, NULL, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(line);
        if (strstr(line, "\"event\"") != NULL)
            continue;
        g_assert_nonnull(strstr(line, "\"return\""));
        return;
    }
}

static int
listen_unix(const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

    g_assert_no_error(error);
    g_socket_bind(socket, address, FALSE, &error);
    g_assert_no_error(error);
    g_socket_listen(socket, &error);
    g_assert_no_error(error);
    return fcntl(g_socket_get_fd(socket), F_DUPFD_CLOEXEC, 3);
}

/* Replaces *@path by DIR/basename(*@path), a symlink to @target (taken). */
static void
link_guest_file(char **path, const char *dir, char *target)
{
    g_autofree char *absolute = g_canonicalize_filename(target, NULL);
    g_autofree char *base = g_path_get_basename(*path);
    char *link = g_build_filename(dir, base, NULL);

    g_free(target);
    g_assert_cmpint(symlink(absolute, link), ==, 0);
    g_free(*path);
    *path = link;
}

/*
 * Runs QEMU with the argv of a golden case (the guest kernel instead of the
 * spec's, TCG, paths in a temporary directory) and checks that it comes up
 * and answers on QMP, i.e. it accepted every option. With @boot, also lets
 * the guest run and waits for its ready marker in the console log.
 */
static void
run_case(const GoldenCase *golden, gboolean boot)
{
    g_autoptr(PodvmSpec) spec = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *pod_dir = NULL;
    g_autofree char *stderr_path = NULL;
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    GoldenCase tc = *golden;
    Qemu q = { 0 };
    guint tick;

    if (!podvm_test_require_guest())
        return;
    spec = load_spec(tc.name);
    /* Keep the guest small whatever the spec asks: this checks options, not sizes. */
    tc.accel = PODVM_ACCEL_TCG;
    tc.host_cpus = 1;

    /*
     * The guest's kernel and initrd under the file names the spec gives
     * ("a,format=raw" and all): QEMU must open exactly those files.
     */
    dir = podvm_test_mkdtemp();
    link_guest_file(&spec->kernel_path, dir, podvm_test_guest_kernel());
    if (spec->initrd_path != NULL)
        link_guest_file(&spec->initrd_path, dir, podvm_test_guest_initrd());
    context_init(&c, &tc, dir, spec->name);
    c.ctx.qemu_binary = podvm_test_qemu_binary();
    pod_dir = g_path_get_dirname(c.qmp_socket);
    g_assert_cmpint(g_mkdir_with_parents(pod_dir, 0700), ==, 0);
    argv = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);

    stderr_path = g_build_filename(dir, "qemu.stderr", NULL);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_stdout_file_path(launcher, stderr_path);
    g_subprocess_launcher_set_stderr_file_path(launcher, stderr_path);
    if (tc.listen_fds) {
        g_subprocess_launcher_take_fd(launcher, listen_unix(c.qmp_socket), QMP_CHILD_FD);
        g_subprocess_launcher_take_fd(launcher, listen_unix(c.console_socket), CONSOLE_CHILD_FD);
    }
    q.process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
    g_assert_no_error(error);
    g_subprocess_wait_async(q.process, NULL, qemu_exited_cb, &q);
    q.qmp_path = c.qmp_socket;

    tick = g_timeout_add(20, tick_cb, NULL);
    podvm_test_wait_until(qmp_greeted, &q, 20000);
    if (q.qmp == NULL) {
        g_autofree char *log = NULL;

        g_file_get_contents(stderr_path, &log, NULL, NULL);
        g_test_message("QEMU (%s) output: %s", tc.name, log != NULL ? log : "");
    }
    g_assert_false(q.exited);
    g_assert_nonnull(q.qmp);

    if (c.pidfile != NULL) {
        g_autofree char *pid = NULL;

        g_file_get_contents(c.pidfile, &pid, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_strstrip(pid), ==, g_subprocess_get_identifier(q.process));
    }
    if (boot) {
        qmp_command(&q, "{\"execute\": \"qmp_capabilities\"}");
        qmp_command(&q, "{\"execute\": \"cont\"}");
        g_assert_true(podvm_test_wait_for_file_content(c.console_log, "PODVM-GUEST-READY", 60000));
    }
    g_assert_false(q.exited);

    g_subprocess_force_exit(q.process);
    podvm_test_wait_until(qemu_gone, &q, 10000);
    g_source_remove(tick);
    g_assert_true(q.exited);
    g_clear_object(&q.qmp_in);
    g_clear_object(&q.qmp);
    g_clear_object(&q.process);
    podvm_test_rmrf(dir);
}

static void
test_qemu_accepts(gconstpointer data)
{
    run_case(data, FALSE);
}

static void
test_qemu_boots(void)
{
    run_case(&golden_cases[0], TRUE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
        g_autofree char *golden =
            g_strdup_printf("/podvm/daemon/qemu-argv/golden/%s", golden_cases[i].name);
        g_autofree char *qemu =
            g_strdup_printf("/podvm/daemon/qemu-argv/qemu-accepts/%s", golden_cases[i].name);

        g_test_add_data_func(golden, &golden_cases[i], test_golden);
        g_test_add_data_func(qemu, &golden_cases[i], test_qemu_accepts);
    }
    g_test_add_func("/podvm/daemon/qemu-argv/path-commas", test_path_commas);
    g_test_add_func("/podvm/daemon/qemu-argv/firmware-escaped", test_firmware_escaped);
    g_test_add_func("/podvm/daemon/qemu-argv/sizing", test_sizing);
    g_test_add_func("/podvm/daemon/qemu-argv/console-and-debug", test_console_and_debug);
    g_test_add_func("/podvm/daemon/qemu-argv/root-ports", test_root_ports);
    g_test_add_func("/podvm/daemon/qemu-argv/refused", test_refused);
    g_test_add_func("/podvm/daemon/qemu-argv/escape", test_escape);
    g_test_add_func("/podvm/daemon/accel/strings", test_accel_strings);
    g_test_add_func("/podvm/daemon/accel/detect", test_accel_detect);
    g_test_add_func("/podvm/daemon/qemu-argv/qemu-boots", test_qemu_boots);

    return g_test_run();
}
