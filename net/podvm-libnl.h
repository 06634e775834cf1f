/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * g_autoptr() for the libnl objects net/ uses, in one place. libnl's types
 * are structs, so each gets a typedef name the GLib macros can take.
 */
#include <glib.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

G_BEGIN_DECLS

typedef struct rtnl_link PodvmRtnlLink;
typedef struct rtnl_addr PodvmRtnlAddr;
typedef struct rtnl_route PodvmRtnlRoute;
typedef struct nl_addr PodvmNlAddr;
typedef struct nl_cache PodvmNlCache;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRtnlLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRtnlAddr, rtnl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRtnlRoute, rtnl_route_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmNlAddr, nl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmNlCache, nl_cache_free)

G_END_DECLS
