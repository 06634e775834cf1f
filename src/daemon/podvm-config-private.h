/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What podvm-config.c shares with the files that read one part of podvmd.conf. */
#include "podvm-config.h"

G_BEGIN_DECLS

/* podvm-config-migration.c: [migration], [peer NAME] and [storage] shared_paths. */
void podvm_config_migration_defaults(PodvmConfig *config);
gboolean podvm_config_read_migration(GKeyFile *kf, const char *path, PodvmConfig *config,
                                     GError **error);
void podvm_config_migration_clear(PodvmConfig *config);

/* podvm-config-apps.c: [apps] (app pods: podvm's app guest). */
void podvm_config_apps_defaults(PodvmConfig *config);
gboolean podvm_config_read_apps(GKeyFile *kf, const char *path, PodvmConfig *config,
                                GError **error);
void podvm_config_apps_clear(PodvmConfig *config);

/* podvm-config-images.c: [images] (the image store of registry pulls). */
void podvm_config_images_defaults(PodvmConfig *config);
gboolean podvm_config_read_images(GKeyFile *kf, const char *path, PodvmConfig *config,
                                  GError **error);
void podvm_config_images_finish(PodvmConfig *config);
void podvm_config_images_clear(PodvmConfig *config);

/* podvm-config-web.c: [web] (the web console page). */
void podvm_config_web_defaults(PodvmConfig *config);
gboolean podvm_config_read_web(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error);
void podvm_config_web_clear(PodvmConfig *config);

G_END_DECLS
