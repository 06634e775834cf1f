/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-unpack-container-disk IMAGE PATH-IN-IMAGE CACHE-DIR QEMU-IMG
 *
 * podvmd's helper for containerDisk volumes: unpacks the disk of an OCI
 * image into the cache (podvm_container_disk_unpack_async) and prints one
 * JSON object on stdout: {"path", "format", "virtualSize", "digest"}, or
 * {"error": {"code": PODVM_ERROR code, "message"}} with exit status 1.
 * PATH-IN-IMAGE may be "" (the one file under /disk/). A separate process,
 * so the daemon does not parse untrusted archives nor link libarchive.
 */
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>

#include "podvm-build-config.h"
#include "podvm-container-disk.h"
#include "podvm-error.h"
#include "podvm-helper-answer.h"
#include "podvm-json.h"

typedef struct {
    GMainLoop *loop;
    JsonNode *answer;
    int status;
} Unpack;

static void
unpacked_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Unpack *unpack = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) disk = podvm_container_disk_unpack_finish(result, &error);

    if (disk != NULL) {
        unpack->answer = podvm_container_disk_to_json(disk);
    } else {
        unpack->answer = podvm_helper_error_answer(error);
        unpack->status = 1;
    }
    g_main_loop_quit(unpack->loop);
}

int
main(int argc, char **argv)
{
    Unpack unpack = { 0 };
    g_autofree char *text = NULL;

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, PODVM_LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    if (argc != 5) {
        fprintf(stderr, _("usage: %s IMAGE PATH-IN-IMAGE CACHE-DIR QEMU-IMG\n"), argv[0]);
        return 2;
    }
    unpack.loop = g_main_loop_new(NULL, FALSE);
    podvm_container_disk_unpack_async(argv[1], argv[2][0] != '\0' ? argv[2] : NULL, argv[3],
                                      argv[4], NULL, unpacked_cb, &unpack);
    g_main_loop_run(unpack.loop);
    g_main_loop_unref(unpack.loop);
    text = podvm_json_to_string(unpack.answer, FALSE);
    json_node_unref(unpack.answer);
    printf("%s\n", text);
    return unpack.status;
}
