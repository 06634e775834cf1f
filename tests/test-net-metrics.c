/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-interface network counters in /metrics (podvm_pod_network_*), end to
 * end in a network and mount namespace of the test's own
 * (podvm_test_netns_enter): a real podvmd runs Debian's CNI plugins for a
 * pod, real QEMU boots the test guest behind a masquerade binding, curl
 * fetches the guest's page ("PODVM-PAGE ...") at the pod's address, and
 * /metrics is read over the REST socket (RUN_DIR/api.sock) with curl.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"

/* Fetches of the guest's page between two scrapes. */
#define FETCHES 5

typedef PodvmTestNet Fixture;

static const char POD_NETWORK[] = "[{\"name\": \"default\", \"pod\": {}}]";

/* Creates and starts the test guest with @interfaces on the pod network. */
static void
create_and_start(Fixture *f, const char *name, const char *interfaces)
{
    g_autofree char *spec = podvm_test_net_spec(name, NULL, interfaces, POD_NETWORK);

    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, name);
}

/* GET /metrics over podvmd's REST socket, with curl; asserts it answered. */
static char *
scrape(Fixture *f)
{
    g_autofree char *socket = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    const char *argv[] = { "curl", "-sS",           "--fail", "--max-time",
                           "10",   "--unix-socket", socket,   "http://localhost/metrics",
                           NULL };
    char *body = podvm_test_net_run(argv);

    g_assert_nonnull(body);
    g_assert_true(g_str_has_prefix(body, "# HELP "));
    return body;
}

static int
compare_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The median time of @n scrapes, in ms (curl's own start included). */
static double
median_scrape_ms(Fixture *f, guint n)
{
    g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(double));

    for (guint i = 0; i < n; i++) {
        gint64 start = g_get_monotonic_time();
        g_autofree char *body = scrape(f);
        double ms = (g_get_monotonic_time() - start) / 1000.0;

        g_array_append_val(times, ms);
    }
    g_array_sort(times, (GCompareFunc)compare_double);
    return g_array_index(times, double, n / 2);
}

/* The value of the sample @metric{name=@pod,namespace="default",interface=@iface}; -1 when absent.
 */
static gint64
sample(const char *body, const char *metric, const char *pod, const char *iface)
{
    g_autofree char *prefix = g_strdup_printf(
        "%s{name=\"%s\",namespace=\"default\",interface=\"%s\"} ", metric, pod, iface);

    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (g_str_has_prefix(line, prefix))
            return g_ascii_strtoll(line + strlen(prefix), NULL, 10);
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

/* A counter of the tap @tap in the pod's namespace, from `ip -s -j link`: "rx"/"tx", "bytes". */
static gint64
tap_counter(Fixture *f, const char *pod, const char *tap, const char *direction, const char *member)
{
    g_autofree char *netns = podvm_test_net_pod_netns(f, pod);
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = { "nsenter", arg, "--", "ip", "-s", "-j", "link", "show", tap, NULL };
    g_autofree char *out = podvm_test_net_run(argv);
    g_autoptr(JsonNode) root = out != NULL ? json_from_string(out, NULL) : NULL;
    JsonObject *link, *stats;

    g_assert_nonnull(root);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
    g_assert_cmpuint(json_array_get_length(json_node_get_array(root)), ==, 1);
    link = json_array_get_object_element(json_node_get_array(root), 0);
    stats = json_object_get_object_member(link, "stats64");
    return json_object_get_int_member(json_object_get_object_member(stats, direction), member);
}

static const char *const NETWORK_METRICS[] = {
    "podvm_pod_network_receive_bytes_total",
    "podvm_pod_network_receive_packets_total",
    "podvm_pod_network_transmit_bytes_total",
    "podvm_pod_network_transmit_packets_total",
    "podvm_pod_network_receive_errors_total",
    "podvm_pod_network_transmit_errors_total",
    "podvm_pod_network_receive_packets_dropped_total",
    "podvm_pod_network_transmit_packets_dropped_total",
};

/* ---- tests ------------------------------------------------------------------------------ */

/*
 * A masquerade interface has counters, as the guest sees them: pages the
 * guest serves are what it transmits (its tap's rx), the requests what it
 * receives; they grow between two scrapes by at least what was fetched.
 */
static void
test_masquerade_counters(Fixture *f, gconstpointer data)
{
    g_autofree char *before = NULL, *after = NULL, *url = NULL, *page = NULL;
    g_autofree char *pod_ip = NULL;
    gint64 tx_bytes[2], tx_packets[2], rx_bytes[2], rx_packets[2];
    gint64 tap_rx_bytes, tap_tx_bytes;
    gsize page_bytes = 0;

    if (f->daemon == NULL)
        return;
    create_and_start(f, "web", "[{\"name\": \"default\", \"masquerade\": {}}]");
    pod_ip = podvm_test_net_status_string(f, "web", "podIP");
    g_assert_nonnull(pod_ip);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    /* The guest's httpd answers once it has its lease. */
    page = podvm_test_net_http_get_retry(url, PODVM_TEST_NET_BOOT_TIMEOUT_MS +
                                                  PODVM_TEST_NET_TIMEOUT_MS);
    g_assert_nonnull(page);
    g_assert_nonnull(strstr(page, "PODVM-PAGE"));

    before = scrape(f);
    for (guint i = 0; i < G_N_ELEMENTS(NETWORK_METRICS); i++) {
        g_autofree char *type = g_strdup_printf("# TYPE %s counter\n", NETWORK_METRICS[i]);
        g_autofree char *help = g_strdup_printf("# HELP %s ", NETWORK_METRICS[i]);

        g_assert_nonnull(strstr(before, type));
        g_assert_nonnull(strstr(before, help));
        /* Every counter has its sample for the interface (errors and drops too, 0 or more). */
        g_assert_cmpint(sample(before, NETWORK_METRICS[i], "web", "default"), >=, 0);
    }
    g_assert_nonnull(
        strstr(before, "podvm_pod_scrape_error{name=\"web\",namespace=\"default\"} 0\n"));
    tx_bytes[0] = sample(before, "podvm_pod_network_transmit_bytes_total", "web", "default");
    tx_packets[0] = sample(before, "podvm_pod_network_transmit_packets_total", "web", "default");
    rx_bytes[0] = sample(before, "podvm_pod_network_receive_bytes_total", "web", "default");
    rx_packets[0] = sample(before, "podvm_pod_network_receive_packets_total", "web", "default");
    if (tx_bytes[0] < 0)
        g_error("no network counters for pod 'web', interface 'default':\n%s", before);
    /* The guest already answered a request (and took a lease): something went both ways. */
    g_assert_cmpint(tx_bytes[0], >, 0);
    g_assert_cmpint(tx_packets[0], >, 0);
    g_assert_cmpint(rx_bytes[0], >, 0);
    g_assert_cmpint(rx_packets[0], >, 0);
    /* The direction: what the guest transmits is what its tap received. */
    tap_rx_bytes = tap_counter(f, "web", "pvtap0", "rx", "bytes");
    tap_tx_bytes = tap_counter(f, "web", "pvtap0", "tx", "bytes");
    g_assert_cmpint(tap_rx_bytes, >=, tx_bytes[0]);
    g_assert_cmpint(tap_tx_bytes, >=, rx_bytes[0]);

    for (guint i = 0; i < FETCHES; i++) {
        g_autofree char *again = podvm_test_net_http_get_retry(url, PODVM_TEST_NET_TIMEOUT_MS);

        g_assert_nonnull(again);
        g_assert_nonnull(strstr(again, "PODVM-PAGE"));
        page_bytes += strlen(again);
    }

    after = scrape(f);
    tx_bytes[1] = sample(after, "podvm_pod_network_transmit_bytes_total", "web", "default");
    tx_packets[1] = sample(after, "podvm_pod_network_transmit_packets_total", "web", "default");
    rx_bytes[1] = sample(after, "podvm_pod_network_receive_bytes_total", "web", "default");
    rx_packets[1] = sample(after, "podvm_pod_network_receive_packets_total", "web", "default");
    g_test_message("guest transmitted %" G_GINT64_FORMAT " bytes in %" G_GINT64_FORMAT
                   " packets, received %" G_GINT64_FORMAT " bytes in %" G_GINT64_FORMAT
                   " packets for %u fetches of %" G_GSIZE_FORMAT " bytes",
                   tx_bytes[1] - tx_bytes[0], tx_packets[1] - tx_packets[0],
                   rx_bytes[1] - rx_bytes[0], rx_packets[1] - rx_packets[0], FETCHES, page_bytes);
    /* Each page went out with its headers; each TCP connection is a few packets each way. */
    g_assert_cmpint(tx_bytes[1] - tx_bytes[0], >, (gint64)page_bytes);
    g_assert_cmpint(tx_packets[1] - tx_packets[0], >=, 2 * FETCHES);
    g_assert_cmpint(rx_bytes[1] - rx_bytes[0], >, (gint64)(FETCHES * strlen("GET / HTTP/1.1\r\n")));
    g_assert_cmpint(rx_packets[1] - rx_packets[0], >=, 2 * FETCHES);
    /* And the tap read between the scrapes lies between them. */
    g_assert_cmpint(tap_rx_bytes, <=, tx_bytes[1]);
    g_assert_cmpint(tap_tx_bytes, <=, rx_bytes[1]);
    g_assert_nonnull(
        strstr(after, "podvm_pod_scrape_error{name=\"web\",namespace=\"default\"} 0\n"));
    g_test_message("GET /metrics with a masquerade pod: median %.1f ms of 11",
                   median_scrape_ms(f, 11));
}

/* A slirp interface has no tap: no network counters, and that is no scrape error. */
static void
test_slirp_has_none(Fixture *f, gconstpointer data)
{
    g_autofree char *body = NULL;

    if (f->daemon == NULL)
        return;
    create_and_start(f, "user", "[{\"name\": \"default\", \"slirp\": {}}]");
    body = scrape(f);
    g_assert_nonnull(strstr(body, "# TYPE podvm_pod_network_transmit_bytes_total counter\n"));
    for (guint i = 0; i < G_N_ELEMENTS(NETWORK_METRICS); i++) {
        g_autofree char *line =
            g_strdup_printf("%s{name=\"user\",namespace=\"default\"", NETWORK_METRICS[i]);

        g_assert_null(strstr(body, line));
    }
    g_assert_nonnull(
        strstr(body, "podvm_pod_scrape_error{name=\"user\",namespace=\"default\"} 0\n"));
    /* The baseline of the masquerade test's figure: no namespace is entered. */
    g_test_message("GET /metrics with a slirp pod: median %.1f ms of 11", median_scrape_ms(f, 11));
}

/*
 * A NIC plugged into a running pod has counters of its own while attached
 * (the guest took a lease on it: packets both ways), and none once it is
 * unplugged; the first interface keeps its own. Its unplug, while the
 * guest is paused, shows DetachPending in status.interfaces[] first.
 */
static void
test_nic_hotplug(Fixture *f, gconstpointer data)
{
    g_autofree char *path = NULL, *out = NULL, *err = NULL;
    g_autofree char *attached = NULL, *detached = NULL;
    g_autoptr(GError) error = NULL;
    int rc;

    if (f->daemon == NULL)
        return;
    create_and_start(f, "hot", "[{\"name\": \"default\", \"masquerade\": {}}]");
    podvm_test_net_wait_console(f, "hot", "PODVM-NET eth0 up 10.0.2.2/24",
                                PODVM_TEST_NET_BOOT_TIMEOUT_MS);
    path = g_build_filename(f->daemon->tmpdir, "nic.json", NULL);
    g_file_set_contents(path,
                        "{\"interface\": {\"name\": \"extra\", \"bridge\": {}}, \"network\": "
                        "{\"name\": \"extra\", \"multus\": {\"networkName\": \"extra\"}}}",
                        -1, &error);
    g_assert_no_error(error);
    rc = podvm_test_ctl(f->daemon, &out, &err, "attach-nic", "hot", "-f", path, NULL);
    if (rc != 0)
        g_error("attach-nic: %s", err);
    podvm_test_net_wait_console(f, "hot", "PODVM-NET eth1 up 10.77.0.", PODVM_TEST_NET_TIMEOUT_MS);

    attached = scrape(f);
    /* DHCP: DISCOVER and REQUEST from the guest, OFFER and ACK to it. */
    g_assert_cmpint(sample(attached, "podvm_pod_network_transmit_packets_total", "hot", "extra"),
                    >=, 2);
    g_assert_cmpint(sample(attached, "podvm_pod_network_receive_packets_total", "hot", "extra"), >=,
                    2);
    g_assert_cmpint(sample(attached, "podvm_pod_network_transmit_bytes_total", "hot", "extra"), >,
                    0);
    g_assert_cmpint(sample(attached, "podvm_pod_network_receive_bytes_total", "hot", "extra"), >,
                    0);
    g_assert_cmpint(sample(attached, "podvm_pod_network_transmit_bytes_total", "hot", "default"), >,
                    0);
    g_assert_nonnull(
        strstr(attached, "podvm_pod_scrape_error{name=\"hot\",namespace=\"default\"} 0\n"));

    /*
     * A paused guest does not let go of the NIC: the detach times out (a
     * short wait: podvmd restarted with it, the pod adopted) and the
     * interface's status says DetachPending until the guest, resumed, lets go.
     */
    {
        g_autofree char *conf = NULL, *reason = NULL, *message = NULL;
        gint64 deadline;

        g_assert_true(g_file_get_contents(f->daemon->config_path, &conf, NULL, NULL));
        {
            g_autofree char *more = g_strconcat(conf, "[qemu]\ndetach_timeout_ms=1500\n", NULL);

            g_assert_true(g_file_set_contents(f->daemon->config_path, more, -1, NULL));
        }
        podvm_test_daemon_stop(f->daemon);
        podvm_test_daemon_start(f->daemon);
        g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "hot", "Running", 30000));
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "pause", "hot", NULL), ==, 0);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        rc = podvm_test_ctl(f->daemon, &out, &err, "detach-nic", "hot", "extra", NULL);
        g_assert_cmpint(rc, !=, 0);
        g_assert_nonnull(strstr(err, "the removal stays pending"));
        reason = podvm_test_net_interface_string(f, "hot", 1, "reason");
        message = podvm_test_net_interface_string(f, "hot", 1, "message");
        g_assert_cmpstr(reason, ==, "DetachPending");
        g_assert_nonnull(strstr(message, "removal pending: the guest has not released "
                                         "interface 'extra'"));
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "resume", "hot", NULL), ==, 0);
        /* The guest lets go: podvmd finishes the detach, the interface goes from the status. */
        deadline = g_get_monotonic_time() + PODVM_TEST_NET_TIMEOUT_MS * 1000LL;
        while (g_get_monotonic_time() < deadline) {
            g_autofree char *name = podvm_test_net_interface_string(f, "hot", 1, "name");

            if (name == NULL)
                break;
            g_usleep(100 * 1000);
        }
        g_clear_pointer(&reason, g_free);
        reason = podvm_test_net_interface_string(f, "hot", 1, "name");
        g_assert_null(reason);
    }
    detached = scrape(f);
    for (guint i = 0; i < G_N_ELEMENTS(NETWORK_METRICS); i++) {
        g_assert_cmpint(sample(detached, NETWORK_METRICS[i], "hot", "extra"), ==, -1);
        g_assert_cmpint(sample(detached, NETWORK_METRICS[i], "hot", "default"), >=,
                        sample(attached, NETWORK_METRICS[i], "hot", "default"));
    }
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/metrics/masquerade-counters", Fixture, NULL, podvm_test_net_setup,
               test_masquerade_counters, podvm_test_net_teardown);
    g_test_add("/net/metrics/slirp-has-none", Fixture, NULL, podvm_test_net_setup,
               test_slirp_has_none, podvm_test_net_teardown);
    g_test_add("/net/metrics/nic-hotplug", Fixture, NULL, podvm_test_net_setup, test_nic_hotplug,
               podvm_test_net_teardown);
    return g_test_run();
}
