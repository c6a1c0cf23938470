/*
 * The fleet benchmark's C consumer of libnsmon: one stream over many namespaces (added in one
 * batch), default options but IPv4 routes only, counting route events with nsmon_stream_next
 * nsmon_stream_dispatch or nsmon_stream_next_batch (64 at a time) in a poll loop on the stream's
 * fd.
 *
 *   nsmon_count next|dispatch|batch EXPECTED NAME...
 *
 * Prints "ready", then "COUNT OVERRUNS CPU_US" as bare_reader does.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <nsmon.h>

struct tally {
    long count, overruns;
};

static void take(struct tally *t, const nsmon_stream_event *ev)
{
    if (ev->kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE || ev->kind == NSMON_STREAM_EVENT_KIND_DEL_ROUTE)
        t->count++;
    else if (ev->kind == NSMON_STREAM_EVENT_KIND_OVERRUN)
        t->overruns++;
}

static int on_event(void *userdata, const nsmon_stream_event *ev)
{
    take(userdata, ev);
    return 0;
}

static long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: nsmon_count next|dispatch|batch EXPECTED NAME...\n");
        return 2;
    }
    int use_dispatch = strcmp(argv[1], "dispatch") == 0;
    int use_batch = strcmp(argv[1], "batch") == 0;
    long expected = atol(argv[2]);
    size_t n = (size_t)(argc - 3);
    nsmon_stream *s;
    nsmon_stream_options *o;
    if (nsmon_stream_new(&s) < 0 || nsmon_stream_options_new(&o) < 0) {
        fprintf(stderr, "%s\n", nsmon_last_error());
        return 1;
    }
    nsmon_stream_options_set_groups(o, NSMON_GROUP_IPV4_ROUTE);
    nsmon_netns_ref *targets = calloc(n, sizeof *targets);
    int *results = calloc(n, sizeof *results);
    for (size_t i = 0; i < n; i++) {
        targets[i].kind = NSMON_NETNS_NAME;
        targets[i].str = argv[3 + i];
    }
    if (nsmon_stream_add_many(s, (const char *const *)&argv[3], targets, n, o, results) != (int)n) {
        fprintf(stderr, "add_many: %s\n", nsmon_last_error());
        return 1;
    }
    nsmon_stream_options_free(o);
    printf("ready\n");
    fflush(stdout);

    struct tally t = { 0, 0 };
    struct pollfd pfd = { .fd = nsmon_stream_fd(s), .events = POLLIN };
    int idle_ms = 60000;
    while (t.count < expected) {
        if (poll(&pfd, 1, idle_ms) == 0)
            break;
        idle_ms = 3000;
        if (use_dispatch) {
            if (nsmon_stream_dispatch(s, on_event, &t) < 0)
                return 1;
        } else if (use_batch) {
            nsmon_stream_event evs[64];
            int got;
            while ((got = nsmon_stream_next_batch(s, evs, 64)) > 0)
                for (int i = 0; i < got; i++)
                    take(&t, &evs[i]);
            if (got < 0)
                return 1;
        } else {
            nsmon_stream_event ev;
            int rc;
            while ((rc = nsmon_stream_next(s, &ev)) == 1)
                take(&t, &ev);
            if (rc < 0)
                return 1;
        }
    }
    printf("%ld %ld %ld\n", t.count, t.overruns, cpu_us());
    nsmon_stream_free(s);
    free(targets);
    free(results);
    return 0;
}
