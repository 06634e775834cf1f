/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-pod-list.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-json.h"

/*
 * Listing the pods is what clients poll. Building a JSON tree of every
 * pod and printing it for each request took 86% of podvmd's time under
 * load (json-glib and malloc; 1.2 ms for 100 pods). So each pod's element
 * is kept as text, exactly as the generator prints it inside an array,
 * and the whole unfiltered answer as one GBytes that libsoup sends without
 * a copy. A pod's text goes stale when its generation moves (every change
 * of phase, status or spec emits "changed" or "event"); as a second line
 * of defence it is printed again when the pod's spec, phase, QEMU pid or
 * restart count differ from those it was printed from.
 */
typedef struct {
    PodvmPod *pod; /* owned */
    char *text;    /* PRETTY: "  {\n    ...\n  }"; COMPACT: "{...}"; no separator; or NULL */
    gsize length;
    guint64 print; /* which printing of this cache made the text */
    /* What the text was printed from. */
    guint64 generation;
    const PodvmSpec *spec;
    PodvmPhase phase;
    int qemu_pid;
    guint restart_count;
} PodText;

typedef struct {
    GHashTable *pod_text; /* PodvmPod* -> PodText* */
    GBytes *answer;       /* the whole unfiltered answer, or NULL when stale */
    GPtrArray *listed;    /* PodText* (unowned): the pods in answer, in order */
    GArray *prints;       /* guint64: the print of each listed text the answer holds */
    guint64 last_print;
} StyleCache;

struct _PodvmPodList {
    StyleCache styles[PODVM_LIST_N_STYLES];
};

static void
pod_text_free(PodText *entry)
{
    g_object_unref(entry->pod);
    g_free(entry->text);
    g_free(entry);
}

PodvmPodList *
podvm_pod_list_new(void)
{
    PodvmPodList *self = g_new0(PodvmPodList, 1);

    for (guint s = 0; s < PODVM_LIST_N_STYLES; s++) {
        self->styles[s].pod_text = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                                         (GDestroyNotify)pod_text_free);
        self->styles[s].listed = g_ptr_array_new();
        self->styles[s].prints = g_array_new(FALSE, FALSE, sizeof(guint64));
    }
    return self;
}

static void
answer_drop(StyleCache *cache)
{
    g_clear_pointer(&cache->answer, g_bytes_unref);
    g_ptr_array_set_size(cache->listed, 0);
    g_array_set_size(cache->prints, 0);
}

void
podvm_pod_list_free(PodvmPodList *self)
{
    if (self == NULL)
        return;
    for (guint s = 0; s < PODVM_LIST_N_STYLES; s++) {
        answer_drop(&self->styles[s]);
        g_ptr_array_unref(self->styles[s].listed);
        g_array_unref(self->styles[s].prints);
        g_hash_table_unref(self->styles[s].pod_text);
    }
    g_free(self);
}

void
podvm_pod_list_membership_changed(PodvmPodList *self, PodvmPod *pod)
{
    for (guint s = 0; s < PODVM_LIST_N_STYLES; s++) {
        answer_drop(&self->styles[s]);
        if (pod != NULL)
            g_hash_table_remove(self->styles[s].pod_text, pod);
    }
}

static gboolean
pod_text_is_current(PodText *entry)
{
    PodvmPod *pod = entry->pod;

    return entry->text != NULL && entry->generation == podvm_pod_get_generation(pod) &&
           entry->spec == podvm_pod_get_spec(pod) && entry->phase == podvm_pod_get_phase(pod) &&
           entry->qemu_pid == podvm_pod_get_qemu_pid(pod) &&
           entry->restart_count == podvm_pod_get_restart_count(pod);
}

static void
pod_text_print(PodText *entry, PodvmListStyle style, guint64 print)
{
    PodvmPod *pod = entry->pod;
    g_autoptr(JsonNode) element = podvm_pod_to_json(pod);

    entry->print = print;

    entry->generation = podvm_pod_get_generation(pod);
    entry->spec = podvm_pod_get_spec(pod);
    entry->phase = podvm_pod_get_phase(pod);
    entry->qemu_pid = podvm_pod_get_qemu_pid(pod);
    entry->restart_count = podvm_pod_get_restart_count(pod);
    g_clear_pointer(&entry->text, g_free);
    if (style == PODVM_LIST_PRETTY) {
        g_autoptr(JsonArray) array = json_array_new();
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
        g_autoptr(GString) text = g_string_new(NULL);

        json_array_add_element(array, json_node_ref(element));
        json_node_set_array(node, array);
        podvm_json_append(text, node, TRUE);
        /* "[\n" ELEMENT "\n]": the element indented as it stands in a list. */
        if (text->len > 4 && g_str_has_prefix(text->str, "[\n") &&
            g_str_has_suffix(text->str, "\n]")) {
            entry->length = text->len - 4;
            entry->text = g_strndup(text->str + 2, entry->length);
            return;
        }
        /* Another json-glib may print otherwise: still the same JSON. */
    }
    entry->text = podvm_json_to_string(element, FALSE);
    entry->length = strlen(entry->text);
}

static PodText *
pod_text_get(StyleCache *cache, PodvmPod *pod, PodvmListStyle style)
{
    PodText *entry = g_hash_table_lookup(cache->pod_text, pod);

    if (entry == NULL) {
        entry = g_new0(PodText, 1);
        entry->pod = g_object_ref(pod);
        g_hash_table_insert(cache->pod_text, pod, entry);
    }
    if (!pod_text_is_current(entry))
        pod_text_print(entry, style, ++cache->last_print);
    return entry;
}

/* The array of the pods of @pods that match @selector; @entries gets their PodText*. */
static GBytes *
list_text(StyleCache *cache, GPtrArray *pods, const PodvmLabelSelector *selector,
          PodvmListStyle style, GPtrArray *entries)
{
    gboolean pretty = style == PODVM_LIST_PRETTY;
    gsize size = sizeof "[\n\n]\n";
    GString *out;

    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);
        PodText *entry;

        if (!podvm_pod_matches_labels(pod, selector))
            continue;
        entry = pod_text_get(cache, pod, style);
        g_ptr_array_add(entries, entry);
        size += entry->length + 2;
    }
    out = g_string_sized_new(size);
    g_string_append_c(out, '[');
    for (guint i = 0; i < entries->len; i++) {
        PodText *entry = g_ptr_array_index(entries, i);

        if (pretty)
            g_string_append(out, i == 0 ? "\n" : ",\n");
        else if (i > 0)
            g_string_append_c(out, ',');
        g_string_append_len(out, entry->text, (gssize)entry->length);
    }
    if (pretty)
        g_string_append(out, entries->len > 0 ? "\n]\n" : "]\n");
    else
        g_string_append_c(out, ']');
    /* The bytes keep GString's NUL after their end. */
    return g_string_free_to_bytes(out);
}

/*
 * Whether the cached answer is still right (cheap: no JSON): each listed
 * pod's text is current and is the very text the answer holds (a filtered
 * list may have printed it again since).
 */
static gboolean
answer_is_current(StyleCache *cache)
{
    if (cache->answer == NULL)
        return FALSE;
    for (guint i = 0; i < cache->listed->len; i++) {
        PodText *entry = g_ptr_array_index(cache->listed, i);

        if (!pod_text_is_current(entry) || entry->print != g_array_index(cache->prints, guint64, i))
            return FALSE;
    }
    return TRUE;
}

GBytes *
podvm_pod_list_text(PodvmPodList *self, GPtrArray *pods, const PodvmLabelSelector *selector,
                    PodvmListStyle style)
{
    StyleCache *cache;

    g_return_val_if_fail(style < PODVM_LIST_N_STYLES, NULL);
    cache = &self->styles[style];
    if (selector != NULL) {
        g_autoptr(GPtrArray) entries = g_ptr_array_sized_new(pods->len);

        return list_text(cache, pods, selector, style, entries);
    }
    if (!answer_is_current(cache)) {
        g_autoptr(GPtrArray) entries = g_ptr_array_sized_new(pods->len);
        g_autoptr(GBytes) answer = list_text(cache, pods, NULL, style, entries);

        answer_drop(cache);
        cache->answer = g_steal_pointer(&answer);
        for (guint i = 0; i < entries->len; i++) {
            PodText *entry = g_ptr_array_index(entries, i);

            g_array_append_val(cache->prints, entry->print);
        }
        g_ptr_array_extend_and_steal(cache->listed, g_steal_pointer(&entries));
    }
    return g_bytes_ref(cache->answer);
}
