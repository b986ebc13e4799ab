/*
 * KisFlow test infrastructure: librdkafka mock cluster launcher.
 *
 * Starts an in-process librdkafka mock cluster (real Kafka protocol over
 * loopback TCP), prints one line "BOOTSTRAP host:port,..." on stdout and then
 * serves line-oriented control commands from stdin until EOF or "quit".
 * Every command gets exactly one reply line: "OK" (or "OK <value>" for
 * queries) or "ERR <reason>".
 *
 * Usage: kafka-mock-launcher [--brokers N] [--topic name:partitions[:replication]]...
 *
 * Commands:
 *   ping
 *   topic <name> <partitions> [replication]
 *   broker_down <id>            (-1 = all brokers)
 *   broker_up <id>
 *   rtt <broker_id> <ms>
 *   push_errors <ApiKey> <count> <errcode>
 *   broker_push_errors <broker_id> <ApiKey> <count> <errcode> [rtt_ms]
 *   clear_errors <ApiKey>
 *   broker_error_count <broker_id> <ApiKey>   (replies "OK <n>": errors still queued)
 *   partition_leader <topic> <partition> <broker_id>
 *   partition_follower <topic> <partition> <broker_id>
 *   topic_error <topic> <errcode>
 *   coordinator <group|transaction> <key> <broker_id>
 *   apiversion <ApiKey> <min> <max>
 *   rack <broker_id> <rack>
 *   quit
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_ARGS 8
#define MAX_ERRS 100000

static rd_kafka_mock_cluster_t *mcluster;

static void reply_ok(void) {
        fputs("OK\n", stdout);
        fflush(stdout);
}

static void reply_err(const char *fmt, const char *detail) {
        fputs("ERR ", stdout);
        fprintf(stdout, fmt, detail);
        fputc('\n', stdout);
        fflush(stdout);
}

static void reply_rkerr(rd_kafka_resp_err_t err) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                reply_ok();
        else
                reply_err("%s", rd_kafka_err2str(err));
}

/* Parses a base-10 integer in [lo, hi]; returns 0 on success. */
static int parse_long(const char *s, long lo, long hi, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < lo || v > hi)
                return -1;
        *out = v;
        return 0;
}

#define NEED_ARGS(n)                                                          \
        do {                                                                  \
                if (argc != (n)) {                                            \
                        reply_err("usage: %s", usage);                        \
                        return;                                               \
                }                                                             \
        } while (0)

#define PARSE(idx, lo, hi, var)                                               \
        do {                                                                  \
                if (parse_long(argv[idx], (lo), (hi), &(var))) {              \
                        reply_err("bad number '%s'", argv[idx]);              \
                        return;                                               \
                }                                                             \
        } while (0)

static void push_errors(int32_t broker_id, long api_key, long cnt, long code,
                        long rtt_ms) {
        long i;
        if (broker_id == INT32_MIN) {
                rd_kafka_resp_err_t *errs = malloc(sizeof(*errs) * (size_t)cnt);
                if (!errs) {
                        reply_err("%s", "out of memory");
                        return;
                }
                for (i = 0; i < cnt; i++)
                        errs[i] = (rd_kafka_resp_err_t)code;
                rd_kafka_mock_push_request_errors_array(
                    mcluster, (int16_t)api_key, (size_t)cnt, errs);
                free(errs);
                reply_ok();
                return;
        }
        /* The per-broker variant is variadic only: push one tuple at a time
         * (entries are appended, so order is preserved). */
        for (i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t err = rd_kafka_mock_broker_push_request_error_rtts(
                    mcluster, broker_id, (int16_t)api_key, 1,
                    (rd_kafka_resp_err_t)code, (int)rtt_ms);
                if (err) {
                        reply_rkerr(err);
                        return;
                }
        }
        reply_ok();
}

static void handle(int argc, char **argv) {
        const char *cmd   = argv[0];
        const char *usage = cmd;
        long a, b, c, d;

        if (!strcmp(cmd, "ping")) {
                usage = "ping";
                NEED_ARGS(1);
                reply_ok();
        } else if (!strcmp(cmd, "topic")) {
                usage = "topic <name> <partitions> [replication]";
                if (argc != 3 && argc != 4) {
                        reply_err("usage: %s", usage);
                        return;
                }
                PARSE(2, 1, 100000, a);
                b = 1;
                if (argc == 4)
                        PARSE(3, 1, 1000, b);
                reply_rkerr(rd_kafka_mock_topic_create(mcluster, argv[1],
                                                       (int)a, (int)b));
        } else if (!strcmp(cmd, "broker_down") || !strcmp(cmd, "broker_up")) {
                usage = "broker_down|broker_up <id>";
                NEED_ARGS(2);
                PARSE(1, -1, INT32_MAX, a);
                if (cmd[7] == 'd')
                        reply_rkerr(rd_kafka_mock_broker_set_down(mcluster,
                                                                  (int32_t)a));
                else
                        reply_rkerr(rd_kafka_mock_broker_set_up(mcluster,
                                                                (int32_t)a));
        } else if (!strcmp(cmd, "rtt")) {
                usage = "rtt <broker_id> <ms>";
                NEED_ARGS(3);
                PARSE(1, -1, INT32_MAX, a);
                PARSE(2, 0, 3600000, b);
                reply_rkerr(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a,
                                                         (int)b));
        } else if (!strcmp(cmd, "push_errors")) {
                usage = "push_errors <ApiKey> <count> <errcode>";
                NEED_ARGS(4);
                PARSE(1, 0, INT16_MAX, a);
                PARSE(2, 1, MAX_ERRS, b);
                PARSE(3, -200, 1000, c);
                push_errors(INT32_MIN, a, b, c, 0);
        } else if (!strcmp(cmd, "broker_push_errors")) {
                usage = "broker_push_errors <broker_id> <ApiKey> <count> "
                        "<errcode> [rtt_ms]";
                if (argc != 5 && argc != 6) {
                        reply_err("usage: %s", usage);
                        return;
                }
                PARSE(1, 0, INT32_MAX, a);
                PARSE(2, 0, INT16_MAX, b);
                PARSE(3, 1, MAX_ERRS, c);
                PARSE(4, -200, 1000, d);
                {
                        long rtt = 0;
                        if (argc == 6)
                                PARSE(5, 0, 3600000, rtt);
                        push_errors((int32_t)a, b, c, d, rtt);
                }
        } else if (!strcmp(cmd, "clear_errors")) {
                usage = "clear_errors <ApiKey>";
                NEED_ARGS(2);
                PARSE(1, 0, INT16_MAX, a);
                rd_kafka_mock_clear_request_errors(mcluster, (int16_t)a);
                reply_ok();
        } else if (!strcmp(cmd, "broker_error_count")) {
                size_t cnt = 0;
                rd_kafka_resp_err_t err;
                usage = "broker_error_count <broker_id> <ApiKey>";
                NEED_ARGS(3);
                PARSE(1, 0, INT32_MAX, a);
                PARSE(2, 0, INT16_MAX, b);
                err = rd_kafka_mock_broker_error_stack_cnt(
                    mcluster, (int32_t)a, (int16_t)b, &cnt);
                if (err) {
                        reply_rkerr(err);
                        return;
                }
                fprintf(stdout, "OK %zu\n", cnt);
                fflush(stdout);
        } else if (!strcmp(cmd, "partition_leader") ||
                   !strcmp(cmd, "partition_follower")) {
                usage = "partition_leader|partition_follower <topic> "
                        "<partition> <broker_id>";
                NEED_ARGS(4);
                PARSE(2, 0, INT32_MAX, a);
                PARSE(3, -1, INT32_MAX, b);
                if (!strcmp(cmd, "partition_leader"))
                        reply_rkerr(rd_kafka_mock_partition_set_leader(
                            mcluster, argv[1], (int32_t)a, (int32_t)b));
                else
                        reply_rkerr(rd_kafka_mock_partition_set_follower(
                            mcluster, argv[1], (int32_t)a, (int32_t)b));
        } else if (!strcmp(cmd, "topic_error")) {
                usage = "topic_error <topic> <errcode>";
                NEED_ARGS(3);
                PARSE(2, -200, 1000, a);
                rd_kafka_mock_topic_set_error(mcluster, argv[1],
                                              (rd_kafka_resp_err_t)a);
                reply_ok();
        } else if (!strcmp(cmd, "coordinator")) {
                usage = "coordinator <group|transaction> <key> <broker_id>";
                NEED_ARGS(4);
                if (strcmp(argv[1], "group") && strcmp(argv[1], "transaction")) {
                        reply_err("usage: %s", usage);
                        return;
                }
                PARSE(3, -1, INT32_MAX, a);
                reply_rkerr(rd_kafka_mock_coordinator_set(mcluster, argv[1],
                                                          argv[2], (int32_t)a));
        } else if (!strcmp(cmd, "apiversion")) {
                usage = "apiversion <ApiKey> <min> <max>";
                NEED_ARGS(4);
                PARSE(1, 0, INT16_MAX, a);
                PARSE(2, -1, INT16_MAX, b);
                PARSE(3, -1, INT16_MAX, c);
                reply_rkerr(rd_kafka_mock_set_apiversion(
                    mcluster, (int16_t)a, (int16_t)b, (int16_t)c));
        } else if (!strcmp(cmd, "rack")) {
                usage = "rack <broker_id> <rack>";
                NEED_ARGS(3);
                PARSE(1, -1, INT32_MAX, a);
                reply_rkerr(
                    rd_kafka_mock_broker_set_rack(mcluster, (int32_t)a, argv[2]));
        } else {
                reply_err("unknown command '%s'", cmd);
        }
}

static void usage_exit(const char *prog) {
        fprintf(stderr,
                "usage: %s [--brokers N] [--topic name:partitions[:replication]]...\n",
                prog);
        exit(2);
}

int main(int argc, char **argv) {
        long brokers = 3;
        int i;
        char errstr[512];
        char line[4096];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;

        /* First pass: options other than --topic (topics need the cluster). */
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        if (parse_long(argv[++i], 1, 64, &brokers))
                                usage_exit(argv[0]);
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
                        i++;
                } else {
                        usage_exit(argv[0]);
                }
        }

        conf = rd_kafka_conf_new();
        /* The handle is only needed for the mock cluster's bookkeeping; keep
         * its own logging quiet (it has no bootstrap.servers on purpose). */
        if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "conf: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new failed: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
        if (!mcluster) {
                fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        for (i = 1; i < argc; i++) {
                char spec[1024], *name, *parts, *repl;
                long p, r = 1;
                if (strcmp(argv[i], "--topic")) {
                        if (!strcmp(argv[i], "--brokers"))
                                i++;
                        continue;
                }
                snprintf(spec, sizeof(spec), "%s", argv[++i]);
                name  = spec;
                parts = strchr(spec, ':');
                if (!parts) {
                        fprintf(stderr, "bad --topic '%s' (want name:partitions)\n",
                                argv[i]);
                        return 2;
                }
                *parts++ = '\0';
                repl     = strchr(parts, ':');
                if (repl)
                        *repl++ = '\0';
                if (!*name || parse_long(parts, 1, 100000, &p) ||
                    (repl && parse_long(repl, 1, 1000, &r))) {
                        fprintf(stderr, "bad --topic '%s'\n", argv[i]);
                        return 2;
                }
                if (rd_kafka_mock_topic_create(mcluster, name, (int)p, (int)r)) {
                        fprintf(stderr, "cannot create topic '%s'\n", name);
                        return 1;
                }
        }

        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                char *args[MAX_ARGS + 1];
                int n = 0;
                char *save = NULL, *tok;
                size_t len = strlen(line);

                if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                        int ch;
                        while ((ch = getchar()) != EOF && ch != '\n')
                                ;
                        reply_err("%s", "line too long");
                        continue;
                }
                for (tok = strtok_r(line, " \t\r\n", &save); tok;
                     tok = strtok_r(NULL, " \t\r\n", &save)) {
                        if (n == MAX_ARGS) {
                                n = -1;
                                break;
                        }
                        args[n++] = tok;
                }
                if (n == 0)
                        continue; /* blank line: no reply */
                if (n < 0) {
                        reply_err("%s", "too many arguments");
                        continue;
                }
                args[n] = NULL;
                if (!strcmp(args[0], "quit")) {
                        reply_ok();
                        break;
                }
                handle(n, args);
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
