/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-unpack-app-rootfs [--max-bytes=N] [--max-entries=N] [--mkfs-erofs=PATH]
 *                         IMAGE ROOTFS-DIR
 *
 * podvmd's helper for app pods: builds (or finds in ROOTFS-DIR) the erofs
 * root filesystem of an OCI image (podvm_app_rootfs_build) and prints one
 * JSON object on stdout, podvm_app_rootfs_to_json(), or {"error": {"code":
 * PODVM_ERROR code, "message"}} with exit status 1. Log lines (skipped
 * device nodes) go to stderr. SIGTERM or SIGINT stop the build, and the
 * temporary files go with it. A separate process, so the daemon does not
 * parse untrusted archives nor link libarchive.
 */
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "podvm-app-rootfs-build.h"
#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-helper-answer.h"
#include "podvm-json.h"

typedef struct {
    char *image;
    char *rootfs_dir;
    PodvmAppRootfsOptions options;
} Job;

typedef struct {
    GMainLoop *loop;
    GCancellable *cancellable;
    JsonNode *answer;
    int status;
} Run;

static void
build_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
    const Job *job = task_data;
    GError *error = NULL;
    PodvmAppRootfs *rootfs;

    (void)source_object;
    rootfs =
        podvm_app_rootfs_build(job->image, job->rootfs_dir, &job->options, cancellable, &error);
    if (rootfs == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, rootfs, (GDestroyNotify)podvm_app_rootfs_free);
}

static void
built_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Run *run = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = g_task_propagate_pointer(G_TASK(result), &error);

    (void)source;
    if (rootfs != NULL) {
        run->answer = podvm_app_rootfs_to_json(rootfs);
    } else {
        run->answer = podvm_helper_error_answer(error);
        run->status = 1;
    }
    g_main_loop_quit(run->loop);
}

static gboolean
stop_cb(gpointer user_data)
{
    Run *run = user_data;

    g_cancellable_cancel(run->cancellable);
    return G_SOURCE_CONTINUE;
}

/* Log lines are plain "message" lines on stderr, which podvmd relays. */
static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    (void)user_data;
    if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 &&
        g_getenv("G_MESSAGES_DEBUG") == NULL)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n_fields; i++) {
        if (g_strcmp0(fields[i].key, "MESSAGE") == 0) {
            fprintf(stderr, "%s\n", (const char *)fields[i].value);
            return G_LOG_WRITER_HANDLED;
        }
    }
    return G_LOG_WRITER_UNHANDLED;
}

int
main(int argc, char **argv)
{
    Run run = { 0 };
    Job *job = g_new0(Job, 1);
    gint64 max_bytes = 0, max_entries = 0;
    char *mkfs_erofs = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GTask) task = NULL;
    g_autofree char *text = NULL;
    GOptionEntry entries[] = {
        { "max-bytes", 0, 0, G_OPTION_ARG_INT64, &max_bytes, N_("Unpacked size limit"), "N" },
        { "max-entries", 0, 0, G_OPTION_ARG_INT64, &max_entries, N_("Entry count limit"), "N" },
        { "mkfs-erofs", 0, 0, G_OPTION_ARG_FILENAME, &mkfs_erofs, N_("mkfs.erofs to run"), "PATH" },
        G_OPTION_ENTRY_NULL,
    };

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, PODVM_LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    g_log_set_writer_func(log_writer, NULL, NULL);
    context = g_option_context_new(_("IMAGE ROOTFS-DIR"));
    g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
    if (!g_option_context_parse(context, &argc, &argv, &error) || argc != 3 || max_bytes < 0 ||
        max_entries < 0) {
        fprintf(stderr,
                _("usage: %s [--max-bytes=N] [--max-entries=N] [--mkfs-erofs=PATH] "
                  "IMAGE ROOTFS-DIR\n"),
                argv[0]);
        return 2;
    }
    job->image = g_strdup(argv[1]);
    job->rootfs_dir = g_strdup(argv[2]);
    job->options.max_bytes = (guint64)max_bytes;
    job->options.max_entries = (guint64)max_entries;
    job->options.mkfs_erofs = mkfs_erofs;

    run.loop = g_main_loop_new(NULL, FALSE);
    run.cancellable = g_cancellable_new();
    g_unix_signal_add(SIGTERM, stop_cb, &run);
    g_unix_signal_add(SIGINT, stop_cb, &run);
    task = g_task_new(NULL, run.cancellable, built_cb, &run);
    /* The build reports cancellation itself, after cleaning up. */
    g_task_set_check_cancellable(task, FALSE);
    g_task_set_task_data(task, job, NULL);
    g_task_run_in_thread(task, build_thread);
    g_clear_object(&task);
    g_main_loop_run(run.loop);
    g_main_loop_unref(run.loop);
    g_object_unref(run.cancellable);

    text = podvm_json_to_string(run.answer, FALSE);
    json_node_unref(run.answer);
    printf("%s\n", text);
    g_free(job->image);
    g_free(job->rootfs_dir);
    g_free(job);
    g_free(mkfs_erofs);
    return run.status;
}
