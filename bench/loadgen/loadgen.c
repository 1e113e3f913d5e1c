/*
 * loadgen: a lean, single-threaded epoll WebSocket load generator for fan-out benchmarks.
 *
 * It opens N subscriber connections to one room, joins them (pchat, engine.io/socket.io or
 * plain WebSocket, optionally with a token-carrying hello: --hello), then publishes 200-byte messages from one more connection at a fixed
 * rate (or saturating, with a bounded number in flight) and prints ONE JSON object on
 * stdout: deliveries per second, latency percentiles, join time, errors, closes, its own
 * CPU time and, when given the server's pids, the server's CPU time over the same window.
 *
 * Message text (the benchmark contract, bench/README.md): "@@<CLOCK_REALTIME ns>@@" padded
 * with 'x' to --size bytes. Every "@@digits@@" marker received by a subscriber is one
 * delivery; latency = receive time - marker time.
 *
 * Design notes:
 * - Server frames are parsed as a stream (any length, any fragmentation of reads or
 *   messages) with no per-connection read buffer: payload bytes are scanned for markers
 *   in place from one shared read buffer. Only the messages exchanged while joining are
 *   accumulated. This keeps a connection at a few hundred bytes (10,000+ connections).
 * - Level-triggered epoll with one read() per ready connection per loop: fair between
 *   connections, and a connection with a big backlog does not starve the others.
 * - Latencies go into a fixed-size log-linear histogram (microseconds, <= 1.6% error).
 * - Client frames are masked (RFC 6455 section 5.3); WebSocket pings get pongs, engine.io
 *   pings ("2") get pongs ("3").
 * - One machine, 50,000+ connections to one server port: a TCP connection is named by its
 *   four addresses and ports, so one source address has one ephemeral port range (about
 *   28,000 ports) towards one server port. --source-addrs spreads the connections over
 *   several loopback addresses (127.0.0.x), bound before connect() with
 *   IP_BIND_ADDRESS_NO_PORT so that the port is still picked at connect() time.
 * - Several processes, one room (--wait-go, bench/bigroom.py): a process holds at most
 *   RLIMIT_NOFILE connections, so a bigger room is joined by several load generators, one
 *   of them the publisher. Each joins, says "ready" and waits for "go START END" on stdin
 *   (CLOCK_REALTIME ns): the same window in every process, and a latency histogram and
 *   per-connection counts in the JSON that the caller merges.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define MAX_JOIN_MSG (1024 * 1024)   /* a join-phase message larger than this is an error */
#define MAX_PUB_BACKLOG (4u << 20)   /* publisher output queued beyond this: skip a send */
#define MAX_SERVER_PIDS 64
#define MAX_CLOSE_CODES 16
#define MAX_BURST 1000               /* messages sent at once when the rate timer lags */
#define STALL_NS 5000000000LL        /* saturating mode: no receipt for 5 s resets in-flight */
#define MAX_SOURCE_ADDRS 256
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24   /* Linux >= 4.2; older headers lack the name */
#endif

enum proto { P_PCHAT, P_SOCKETIO, P_WS };
enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_JOINING, C_JOINED, C_CLOSED };
enum pstate { PS_HDR, PS_PAYLOAD };

struct conn {
    int fd;
    int idx;                 /* 0..N-1: subscribers; N: the publisher */
    uint8_t state;
    uint8_t reader;          /* 0: a non-reader (stopped reading after joining) */
    uint8_t draining;        /* a non-reader read again after the window, to see its fate */
    uint8_t want_out;        /* EPOLLOUT is registered */
    /* output queue */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    /* handshake response or a join-phase message being accumulated */
    uint8_t *acc;
    size_t acc_len, acc_cap;
    /* frame parser */
    uint8_t pstate;
    uint8_t hdr[14];
    uint8_t hdr_len, hdr_need;
    uint8_t opcode;          /* opcode of the current frame */
    uint8_t msg_op;          /* opcode of the current (possibly fragmented) message */
    uint8_t fin;
    uint64_t remaining;      /* payload bytes left in the current frame */
    uint8_t ctl[125];
    uint8_t ctl_len;
    uint8_t mhead[48];       /* the first bytes of the current message (a push's "seq") */
    uint8_t mhead_len;
    uint64_t msg_len;
    /* marker scanner */
    uint8_t mstate, mdigits;
    uint64_t mval;
    /* --reconnect-storm: the client's position, and its reconnects */
    uint8_t has_pos;         /* epoch and seq known: the next connect sends "recover" */
    uint8_t restart_close;   /* closed with 4000 or 1012: the restart delays apply */
    uint8_t storm_done;      /* got its connect reply after the restart */
    uint8_t recovering;      /* this connect sent "recover" */
    int32_t hint_ms;         /* reconnect_after_ms of the last close reason; -1: none */
    uint16_t close_code;     /* of the last close frame received; 0: none */
    uint32_t attempts;       /* reconnect attempts since the connection was lost */
    uint32_t delivered;      /* --wait-go: deliveries received by this subscriber */
    uint64_t seq;            /* the last stream position applied */
    char epoch[40];
};

/* ---- options ---------------------------------------------------------------------------- */

static struct {
    const char *host;
    int port;
    const char *path;
    int proto;
    int subscribers;
    int nonreaders;
    double rate;
    int inflight;
    double warmup;
    double duration;
    const char *tokens_file;
    const char *room;
    int concurrency;
    double join_timeout;
    double drain;
    int idle;
    int size;
    int nonreader_rcvbuf;
    int hello;               /* ws: a token-carrying hello first, joined on its "welcome" */
    struct in_addr source_addrs[MAX_SOURCE_ADDRS];
    int n_source_addrs;
    pid_t server_pids[MAX_SERVER_PIDS];
    int n_server_pids;
    int quiet;
    int storm;               /* --reconnect-storm */
    double storm_backoff_ms; /* restart-close retry delays: uniform in [0, B] */
    int storm_hint;          /* honour the close's reconnect_after_ms (as the SDKs do) */
    int storm_messages;      /* published before the restart, so that clients have a position */
    int storm_missed;        /* published right after the restart, missed by the clients */
    double storm_timeout;    /* seconds from the first close */
    int sampling;            /* pchat: connect with "sampling": true (a sampled stream) */
    int id_base;             /* subscriber i is user u<id_base+i>, token line id_base+i */
    int no_publisher;        /* --wait-go: subscribers only (another process publishes) */
    int wait_go;             /* after joining, wait for "go START END" on stdin */
} opt = {
    .host = "127.0.0.1",
    .proto = -1,
    .subscribers = 100,
    .rate = 10,
    .inflight = 4,
    .warmup = 2,
    .duration = 10,
    .room = "bench",
    .concurrency = 100,
    .join_timeout = 60,
    .drain = 3,
    .size = 200,
    .nonreader_rcvbuf = 4096,
    .storm_backoff_ms = 2000,
    .storm_hint = 1,
    .storm_messages = 5,
    .storm_missed = 5,
    .storm_timeout = 60,
};

/* ---- state ------------------------------------------------------------------------------ */

static struct conn *conns;
static int n_conns;                    /* subscribers + 1 publisher */
static struct conn *pub;
static int epfd, timer_fd = -1;
static uint8_t timer_tag;              /* epoll data.ptr for the rate timer */
static uint8_t rbuf[READ_BUF_SIZE];
static char **tokens;
static int n_tokens;
static struct sockaddr_in server_addr;
static uint32_t rng = 2463534242u;

static int next_to_connect, pending, joined, failed;
static int64_t join_start, join_end;
static int publishing;
static int64_t pub_start, win_start, win_end;
static int in_window, window_done;
static uint64_t pub_seq;               /* request ids / messages sent in total */
static int inflight;
static int64_t last_progress;
static int64_t go_start, go_end;       /* --wait-go: the window, CLOCK_REALTIME ns */
static uint8_t stdin_tag;              /* epoll data.ptr for stdin (--wait-go) */

static struct {
    uint64_t sent, sent_total, deliveries, deliveries_total, publish_skipped, stalls;
    uint64_t err_connect, err_handshake, err_join, err_join_timeout, err_protocol;
    uint64_t err_server_frames, err_publisher;
    uint64_t closed_readers, closed_nonreaders;
    int close_codes[MAX_CLOSE_CODES][2];
    int n_close_codes;
    double cpu_win_start, cpu_win;
    double srv_cpu_start, srv_cpu;
    double join_cpu_start, join_cpu, join_srv_cpu_start, join_srv_cpu;
    long srv_rss_before, srv_rss_after;
} st = {.srv_cpu = -1, .join_srv_cpu = -1, .srv_rss_before = -1, .srv_rss_after = -1};

/* --reconnect-storm: the clients are armed once every subscriber has a position; from then
 * on a lost connection is a restart's, and it comes back after a backoff with "recover". */
static struct {
    int armed;                          /* a close from now on is the restart's */
    int pre_sent;                       /* the messages before the restart were sent */
    int pub_rejoined, pub_sent;         /* the publisher after the restart */
    uint64_t target_seq;                /* every subscriber's position once caught up */
    uint64_t pub_base;                  /* the publisher's position when it rejoined */
    int64_t armed_ns, first_close_ns, last_close_ns, first_connect_ns, first_reply_ns,
        last_reply_ns, caught_up_ns, pub_due, last_scan;
    int closed, replied, recovered, not_recovered, no_recovery, hinted, caught_up;
    int reasons_gap, reasons_epoch;
    uint64_t attempts, refused;
    uint64_t err0[6];                   /* error counts when armed */
    double cpu0;
    int64_t *reply_ns;                  /* per subscriber: its connect reply after the close */
    int64_t *heap_due;                  /* reconnects waiting for their time: a min-heap */
    int *heap_idx;
    int heap_n;
} storm;

static void storm_close(struct conn *c);

/* Latency histogram in microseconds: values < 128 exact, then 64 sub-buckets per power
 * of two (relative error <= 1/64). Index 128 + (shift-1)*64 + (mantissa-64). */
#define HIST_SIZE (128 + 64 * 40)
static uint64_t hist[HIST_SIZE];
static uint64_t hist_count, hist_max_us;
static double hist_sum_us;

/* ---- small helpers ---------------------------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void note(const char *fmt, ...)
{
    if (opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory");
    return q;
}

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of the server's processes (all threads), in seconds; -1 if unreadable. */
static double server_cpu_seconds(void)
{
    if (opt.n_server_pids == 0)
        return -1;
    double total = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < opt.n_server_pids; i++) {
        char path[64], line[4096];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)opt.server_pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = 0;
        /* fields after the command name (which may hold spaces) start after the last ')' */
        char *p = strrchr(line, ')');
        if (!p)
            return -1;
        unsigned long long utime = 0, stime = 0;
        /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) != 2)
            return -1;
        total += (double)(utime + stime) / (double)hz;
    }
    return total;
}

/* VmRSS of the server's processes in KiB; -1 if unreadable. */
static long server_rss_kb(void)
{
    if (opt.n_server_pids == 0)
        return -1;
    long total = 0;
    for (int i = 0; i < opt.n_server_pids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int)opt.server_pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                break;
        fclose(f);
        if (kb < 0)
            return -1;
        total += kb;
    }
    return total;
}

static void hist_add(int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    size_t idx;
    if (us < 128) {
        idx = us;
    } else {
        int msb = 63 - __builtin_clzll(us);
        int shift = msb - 6;
        idx = 128 + (size_t)(shift - 1) * 64 + ((us >> shift) - 64);
        if (idx >= HIST_SIZE)
            idx = HIST_SIZE - 1;
    }
    hist[idx]++;
    hist_count++;
    hist_sum_us += (double)us;
    if (us > hist_max_us)
        hist_max_us = us;
}

static double hist_bucket_mid_us(size_t idx)
{
    if (idx < 128)
        return (double)idx;
    int shift = (int)((idx - 128) / 64) + 1;
    uint64_t mant = (idx - 128) % 64 + 64;
    return (double)(mant << shift) + (double)(1ull << shift) / 2.0;
}

/* The q-quantile in ms (nearest rank), -1 without samples. */
static double hist_quantile_ms(double q)
{
    if (hist_count == 0)
        return -1;
    uint64_t rank = (uint64_t)(q * (double)hist_count);
    if (rank >= hist_count)
        rank = hist_count - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_SIZE; i++) {
        seen += hist[i];
        if (seen > rank) {
            double us = hist_bucket_mid_us(i);
            if (us > (double)hist_max_us)
                us = (double)hist_max_us;
            return us / 1000.0;
        }
    }
    return (double)hist_max_us / 1000.0;
}

/* ---- output ----------------------------------------------------------------------------- */

static void epoll_set(struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
        die("epoll_ctl: %s", strerror(errno));
}

static uint32_t conn_events(struct conn *c)
{
    uint32_t ev = c->reader ? EPOLLIN : EPOLLRDHUP;
    if (c->want_out)
        ev |= EPOLLOUT;
    return ev;
}

static void conn_close(struct conn *c, int was_error);

static void queue_out(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 1024;
            while (cap < c->out_len + n)
                cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Write the queued output; 0 on success (possibly partial), -1 if the connection died. */
static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    int want = c->out_off < c->out_len;
    if (!want) {
        c->out_off = c->out_len = 0;
    }
    if (want != c->want_out && c->state != C_CONNECTING) {
        c->want_out = (uint8_t)want;
        epoll_set(c, conn_events(c), EPOLL_CTL_MOD);
    }
    return 0;
}

static void send_bytes(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->state == C_CLOSED)
        return;
    queue_out(c, p, n);
    if (flush_out(c) < 0)
        conn_close(c, c->state != C_JOINED);
}

/* A masked client frame (RFC 6455 5.2/5.3) with FIN set. */
static void send_frame(struct conn *c, int opcode, const uint8_t *payload, size_t n)
{
    uint8_t stackbuf[1024];
    uint8_t *buf = n + 14 <= sizeof stackbuf ? stackbuf : xrealloc(NULL, n + 14);
    size_t h = 0;
    buf[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        buf[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        buf[h++] = 0x80 | 126;
        buf[h++] = (uint8_t)(n >> 8);
        buf[h++] = (uint8_t)n;
    } else {
        buf[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            buf[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t key = xorshift();
    uint8_t mask[4] = {(uint8_t)(key >> 24), (uint8_t)(key >> 16), (uint8_t)(key >> 8),
                       (uint8_t)key};
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        buf[h + i] = payload[i] ^ mask[i & 3];
    send_bytes(c, buf, h + n);
    if (buf != stackbuf)
        free(buf);
}

static void send_text(struct conn *c, const char *s, size_t n)
{
    send_frame(c, 0x1, (const uint8_t *)s, n);
}

/* ---- connections ------------------------------------------------------------------------ */

static void base64_16(const uint8_t in[16], char out[25])
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < 16)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < 16)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < 16 ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < 16 ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

static void start_connect(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise the open-file limit?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->idx >= opt.subscribers - opt.nonreaders && c->idx < opt.subscribers &&
        opt.nonreader_rcvbuf > 0) {
        /* set before connect() so that the advertised window stays small */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.nonreader_rcvbuf, sizeof opt.nonreader_rcvbuf);
    }
    if (opt.n_source_addrs > 0) {
        /* The port is left to connect(), which picks one free for the whole 4-tuple: each
         * source address then has the full ephemeral range towards the server's port. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr = opt.source_addrs[c->idx % opt.n_source_addrs]};
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
            die("bind %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
    }
    c->fd = fd;
    c->reader = 1;
    c->state = C_CONNECTING;
    c->pstate = PS_HDR;
    c->hdr_len = 0;
    c->hdr_need = 2;
    pending++;
    int r = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
    if (r < 0 && errno != EINPROGRESS) {
        if (storm.armed) {
            if (c != pub)
                storm.refused++;
        } else {
            st.err_connect++;
            note("connect: %s", strerror(errno));
        }
        c->want_out = 0;
        epoll_set(c, EPOLLOUT, EPOLL_CTL_ADD); /* registered so conn_close can remove it */
        conn_close(c, 1);
        return;
    }
    c->want_out = 1;
    epoll_set(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void send_handshake(struct conn *c)
{
    uint8_t key[16];
    char key64[25], req[1024];
    for (int i = 0; i < 16; i += 4) {
        uint32_t v = xorshift();
        memcpy(key + i, &v, 4);
    }
    base64_16(key, key64);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, opt.host, opt.port, key64);
    c->state = C_HANDSHAKE;
    c->want_out = 0;
    epoll_set(c, EPOLLIN, EPOLL_CTL_MOD);
    send_bytes(c, (const uint8_t *)req, (size_t)n);
}

static void on_joined(struct conn *c)
{
    c->state = C_JOINED;
    free(c->acc);
    c->acc = NULL;
    c->acc_len = c->acc_cap = 0;
    pending--;
    if (c == pub || storm.armed)
        return;
    joined++;
    if (c->idx >= opt.subscribers - opt.nonreaders) {
        /* a non-reader: from now on only notice when the server drops it */
        c->reader = 0;
        epoll_set(c, conn_events(c), EPOLL_CTL_MOD);
    }
}

static void record_close_code(int code)
{
    for (int i = 0; i < st.n_close_codes; i++)
        if (st.close_codes[i][0] == code) {
            st.close_codes[i][1]++;
            return;
        }
    if (st.n_close_codes < MAX_CLOSE_CODES) {
        st.close_codes[st.n_close_codes][0] = code;
        st.close_codes[st.n_close_codes][1] = 1;
        st.n_close_codes++;
    }
}

/* Close a connection. Before it joined that is a failure (was_error says whether the
 * cause was already counted); after, a close (counted by reader kind). */
static void conn_close(struct conn *c, int was_error)
{
    if (c->state == C_CLOSED || c->state == C_IDLE)
        return;
    if (storm.armed) {
        storm_close(c);
        return;
    }
    if (c->state != C_JOINED) {
        pending--;
        if (c != pub)
            failed++;
        if (!was_error)
            st.err_join++;
    } else if (c == pub) {
        st.err_publisher++;
    } else if (c->reader && !c->draining) {
        st.closed_readers++;
    } else {
        st.closed_nonreaders++;
    }
    epoll_set(c, 0, EPOLL_CTL_DEL);
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    free(c->out);
    free(c->acc);
    c->out = c->acc = NULL;
    c->out_len = c->out_off = c->out_cap = c->acc_len = c->acc_cap = 0;
}

/* ---- publishing ------------------------------------------------------------------------- */

static void publish_one(void)
{
    if (!pub || pub->state != C_JOINED)
        return;
    if (pub->out_len - pub->out_off > MAX_PUB_BACKLOG) {
        st.publish_skipped++;
        return;
    }
    char text[4096];
    int64_t t = now_ns();
    int m = snprintf(text, sizeof text, "@@%" PRId64 "@@", t);
    if (m < opt.size) {
        memset(text + m, 'x', (size_t)(opt.size - m));
        m = opt.size;
    }
    text[m] = 0;
    char msg[4096 + 128];
    int n;
    pub_seq++;
    switch (opt.proto) {
    case P_PCHAT:
        n = snprintf(msg, sizeof msg, "{\"type\":\"send\",\"id\":%" PRIu64 ",\"text\":\"%s\"}",
                     pub_seq + 1, text);
        break;
    case P_SOCKETIO:
        n = snprintf(msg, sizeof msg, "42[\"msg\",\"%s\"]", text);
        break;
    default:
        n = snprintf(msg, sizeof msg, "%s", text);
        break;
    }
    send_text(pub, msg, (size_t)n);
    st.sent_total++;
    if (in_window)
        st.sent++;
    if (opt.rate <= 0)
        inflight++;
}

static void publish_saturating(void)
{
    while (publishing && inflight < opt.inflight && pub && pub->state == C_JOINED) {
        uint64_t before = st.sent_total;
        publish_one();
        if (st.sent_total == before)
            break;
    }
}

/* ---- receiving -------------------------------------------------------------------------- */

static void on_delivery(struct conn *c, uint64_t sent_ns, int64_t now)
{
    if (c == pub || c->draining)
        return;
    st.deliveries_total++;
    c->delivered++;
    if (c->idx == 0 && opt.rate <= 0) {
        if (inflight > 0)
            inflight--;
        last_progress = now;
    }
    if (in_window) {
        st.deliveries++;
        hist_add(now - (int64_t)sent_ns);
    }
}

/* Find "@@digits@@" markers in a chunk of message payload; a marker may span chunks. */
static void scan_markers(struct conn *c, const uint8_t *p, size_t n, int64_t now)
{
    const uint8_t *end = p + n;
    while (p < end) {
        if (c->mstate == 0) {
            p = memchr(p, '@', (size_t)(end - p));
            if (!p)
                return;
            c->mstate = 1;
            p++;
            continue;
        }
        uint8_t ch = *p++;
        switch (c->mstate) {
        case 1: /* "@" */
            if (ch == '@') {
                c->mstate = 2;
                c->mval = 0;
                c->mdigits = 0;
            } else {
                c->mstate = 0;
            }
            break;
        case 2: /* "@@" digits */
            if (ch >= '0' && ch <= '9' && c->mdigits < 20) {
                c->mval = c->mval * 10 + (uint64_t)(ch - '0');
                c->mdigits++;
            } else if (ch == '@') {
                c->mstate = c->mdigits ? 3 : 2; /* "@@@" keeps looking for digits */
            } else {
                c->mstate = 0;
            }
            break;
        case 3: /* "@@digits@" */
            if (ch == '@')
                on_delivery(c, c->mval, now);
            c->mstate = 0;
            break;
        }
    }
}

static void acc_append(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->acc_len + n > c->acc_cap) {
        size_t cap = c->acc_cap ? c->acc_cap : 512;
        while (cap < c->acc_len + n)
            cap *= 2;
        c->acc = xrealloc(c->acc, cap + 1);
        c->acc_cap = cap;
    }
    memcpy(c->acc + c->acc_len, p, n);
    c->acc_len += n;
    c->acc[c->acc_len] = 0;
}

/* Does the JSON text hold "key": followed by value (a literal: "\"reply\"" or "1")? The first
 * occurrence of the key is taken, which is the top-level one in the frames looked at. */
static int json_field_is(const char *s, const char *key, const char *value)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
        p++;
    size_t n = strlen(value);
    if (strncmp(p, value, n) != 0)
        return 0;
    char after = p[n];
    return !(after >= '0' && after <= '9');
}

/* ---- reconnect storm: positions and hints ----------------------------------------------- */

/* The text after "key": (spaces skipped) at its first occurrence in s, or NULL. */
static const char *json_value(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
        p++;
    return p;
}

/* reconnect_after_ms=<1-9 digits> in a close reason (docs/protocol.md 8), capped at 60 s
 * as the SDKs do; -1 when there is none. */
static int32_t reconnect_hint_ms(const uint8_t *reason, size_t n)
{
    static const char key[] = "reconnect_after_ms=";
    const uint8_t *p = memmem(reason, n, key, sizeof key - 1);
    if (!p)
        return -1;
    p += sizeof key - 1;
    const uint8_t *end = reason + n;
    int64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 10) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 9 || (p < end && *p != ';' && *p != ' ' && *p != '\t'))
        return -1;
    return (int32_t)(v > 60000 ? 60000 : v);
}

/* A connect reply: the client's position is the room's epoch and seq (after a recovery,
 * the events replayed end there); after the restart it is counted once. */
static void storm_on_reply(struct conn *c, const char *s)
{
    const char *room = json_value(s, "room");
    const char *epoch = room ? json_value(room, "epoch") : NULL;
    const char *seq = room ? json_value(room, "seq") : NULL;
    if (epoch && *epoch == '"' && seq && *seq >= '0' && *seq <= '9') {
        const char *q = strchr(epoch + 1, '"');
        size_t len = q ? (size_t)(q - epoch - 1) : 0;
        if (len > 0 && len < sizeof c->epoch) {
            memcpy(c->epoch, epoch + 1, len);
            c->epoch[len] = 0;
            c->seq = strtoull(seq, NULL, 10);
            c->has_pos = 1;
        }
    }
    if (!storm.armed)
        return;
    if (c == pub) {
        storm.pub_rejoined = 1;
        storm.pub_base = c->seq;
        return;
    }
    if (c->storm_done)
        return;
    int64_t now = now_ns();
    c->storm_done = 1;
    c->attempts = 0;
    storm.replied++;
    storm.reply_ns[c->idx] = now;
    if (!storm.first_reply_ns)
        storm.first_reply_ns = now;
    storm.last_reply_ns = now;
    const char *rec = c->recovering ? json_value(s, "recovered") : NULL;
    if (!rec) {
        storm.no_recovery++;
    } else if (!strncmp(rec, "true", 4)) {
        storm.recovered++;
    } else {
        storm.not_recovered++;
        const char *why = json_value(s, "reason");
        if (why && !strncmp(why, "\"gap_too_large\"", 15))
            storm.reasons_gap++;
        else
            storm.reasons_epoch++;
    }
}

/* A stream push ({"type":"message…","seq":N or {"type":"skip","seq":N): the position. */
static void storm_on_push(struct conn *c)
{
    static const char head[] = "{\"type\":\"";
    size_t h = sizeof head - 1;
    if (c->mhead_len < h + 8 || memcmp(c->mhead, head, h) != 0)
        return;
    if (memcmp(c->mhead + h, "message", 7) != 0 && memcmp(c->mhead + h, "skip\"", 5) != 0)
        return;
    const uint8_t *p = memmem(c->mhead, c->mhead_len, "\"seq\":", 6);
    if (!p)
        return;
    p += 6;
    const uint8_t *end = c->mhead + c->mhead_len;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (digits && p < end && v > c->seq)
        c->seq = v;
}

/* A whole message arrived while joining (its bytes are in c->acc). */
static void on_join_message(struct conn *c)
{
    const char *s = c->acc ? (const char *)c->acc : "";
    if (opt.proto == P_PCHAT) {
        if (json_field_is(s, "type", "\"reply\"") && json_field_is(s, "id", "1")) {
            if (opt.storm)
                storm_on_reply(c, s);
            on_joined(c);
        } else if (json_field_is(s, "type", "\"error\"")) {
            note("join refused: %.300s", s);
            st.err_join++;
            conn_close(c, 1);
            return;
        }
    } else if (opt.proto == P_WS && opt.hello) {
        if (json_field_is(s, "type", "\"welcome\"")) {
            on_joined(c);
        } else {
            note("hello refused: %.300s", s);
            st.err_join++;
            conn_close(c, 1);
            return;
        }
    } else if (opt.proto == P_SOCKETIO) {
        if (s[0] == '0') {
            send_text(c, "40", 2);
        } else if (s[0] == '4' && s[1] == '0') {
            on_joined(c);
        } else if (s[0] == '2' && s[1] == 0) {
            send_text(c, "3", 1);
        } else if (s[0] == '4' && s[1] == '4') {
            note("socket.io connect refused: %.300s", s);
            st.err_join++;
            conn_close(c, 1);
            return;
        }
    }
    if (c->state == C_JOINING) {
        c->acc_len = 0;
        if (c->acc)
            c->acc[0] = 0;
    }
}

static void on_message_start(struct conn *c)
{
    c->mhead_len = 0;
    c->msg_len = 0;
    c->mstate = 0;
}

static void on_message_chunk(struct conn *c, const uint8_t *p, size_t n, int64_t now)
{
    if (c->mhead_len < sizeof c->mhead) {
        size_t k = sizeof c->mhead - c->mhead_len;
        if (k > n)
            k = n;
        memcpy(c->mhead + c->mhead_len, p, k);
        c->mhead_len = (uint8_t)(c->mhead_len + k);
    }
    c->msg_len += n;
    if (c->state == C_JOINING) {
        if (c->acc_len + n > MAX_JOIN_MSG) {
            st.err_protocol++;
            conn_close(c, 1);
            return;
        }
        acc_append(c, p, n);
    } else if (c->state == C_JOINED) {
        scan_markers(c, p, n, now);
    }
}

static void on_message_end(struct conn *c)
{
    if (c->state == C_JOINING) {
        on_join_message(c);
        return;
    }
    if (c->state != C_JOINED)
        return;
    if (opt.proto == P_SOCKETIO) {
        if (c->msg_len == 1 && c->mhead[0] == '2')
            send_text(c, "3", 1);
        else if (c->msg_len >= 2 && c->mhead[0] == '4' && c->mhead[1] == '1')
            conn_close(c, 0); /* socket.io disconnect packet */
    } else if (opt.proto == P_PCHAT) {
        static const char err[] = "{\"type\":\"error\"";
        if (opt.storm)
            storm_on_push(c);
        if (c->mhead_len >= sizeof err - 1 && memcmp(c->mhead, err, sizeof err - 1) == 0) {
            if (st.err_server_frames < 5)
                note("server error frame on connection %d: %.16s...", c->idx, c->mhead);
            st.err_server_frames++;
        }
    }
}

static void on_control_frame(struct conn *c)
{
    switch (c->opcode) {
    case 0x8: { /* close */
        int code = c->ctl_len >= 2 ? (c->ctl[0] << 8 | c->ctl[1]) : 1005;
        record_close_code(code);
        c->close_code = (uint16_t)code;
        c->hint_ms = c->ctl_len > 2 ? reconnect_hint_ms(c->ctl + 2, c->ctl_len - 2u) : -1;
        if (code == 4000 || code == 1012)
            c->restart_close = 1;
        if (c->state == C_JOINED || c->state == C_JOINING)
            send_frame(c, 0x8, c->ctl, c->ctl_len >= 2 ? 2 : 0);
        conn_close(c, 0);
        break;
    }
    case 0x9: /* ping */
        send_frame(c, 0xA, c->ctl, c->ctl_len);
        break;
    default: /* pong: ignored */
        break;
    }
}

/* Feed received bytes (after the HTTP handshake) to the frame parser. */
static void feed_frames(struct conn *c, const uint8_t *p, size_t n, int64_t now)
{
    while (n > 0 && c->state != C_CLOSED) {
        if (c->pstate == PS_HDR) {
            while (n > 0 && c->hdr_len < c->hdr_need) {
                c->hdr[c->hdr_len++] = *p++;
                n--;
                if (c->hdr_len == 2) {
                    uint8_t len7 = c->hdr[1] & 0x7f;
                    c->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
                                            (c->hdr[1] & 0x80 ? 4 : 0));
                }
            }
            if (c->hdr_len < c->hdr_need)
                return;
            if (c->hdr[1] & 0x80) { /* servers must not mask (RFC 6455 5.1) */
                st.err_protocol++;
                conn_close(c, 1);
                return;
            }
            c->fin = c->hdr[0] >> 7;
            c->opcode = c->hdr[0] & 0x0f;
            uint8_t len7 = c->hdr[1] & 0x7f;
            uint64_t len = len7;
            if (len7 == 126) {
                len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            } else if (len7 == 127) {
                len = 0;
                for (int i = 2; i < 10; i++)
                    len = len << 8 | c->hdr[i];
            }
            c->remaining = len;
            c->hdr_len = 0;
            c->hdr_need = 2;
            c->pstate = PS_PAYLOAD;
            if (c->opcode >= 0x8) {
                if (len > 125 || !c->fin) {
                    st.err_protocol++;
                    conn_close(c, 1);
                    return;
                }
                c->ctl_len = 0;
            } else if (c->opcode != 0x0) {
                c->msg_op = c->opcode;
                on_message_start(c);
            }
        }
        /* PS_PAYLOAD */
        size_t k = c->remaining < n ? (size_t)c->remaining : n;
        if (c->opcode >= 0x8) {
            memcpy(c->ctl + c->ctl_len, p, k);
            c->ctl_len = (uint8_t)(c->ctl_len + k);
        } else if (k > 0) {
            on_message_chunk(c, p, k, now);
            if (c->state == C_CLOSED)
                return;
        }
        p += k;
        n -= k;
        c->remaining -= k;
        if (c->remaining == 0) {
            c->pstate = PS_HDR;
            if (c->opcode >= 0x8)
                on_control_frame(c);
            else if (c->fin)
                on_message_end(c);
        }
    }
}

/* The token of a connection: line i for subscriber i, line N+1 for the publisher. */
static const char *token_of(struct conn *c)
{
    if (n_tokens == 0)
        return "";
    int line = opt.id_base + c->idx; /* the publisher: line id_base + subscribers */
    return c == pub && n_tokens > line ? tokens[line] : tokens[line % n_tokens];
}

static void after_handshake(struct conn *c)
{
    c->state = C_JOINING;
    if (opt.proto == P_PCHAT) {
        char msg[8192];
        const char *token = token_of(c);
        int n;
        c->recovering = 0;
        if (c == pub)
            n = snprintf(msg, sizeof msg,
                         "{\"type\":\"connect\",\"id\":1,\"room\":\"%s\",\"username\":\"pub\","
                         "\"token\":\"%s\"%s}",
                         opt.room, token, opt.sampling ? ",\"sampling\":true" : "");
        else if (storm.armed && c->has_pos) {
            c->recovering = 1;
            n = snprintf(msg, sizeof msg,
                         "{\"type\":\"connect\",\"id\":1,\"room\":\"%s\",\"username\":\"u%d\","
                         "\"token\":\"%s\",\"recover\":{\"epoch\":\"%s\",\"seq\":%" PRIu64 "}}",
                         opt.room, opt.id_base + c->idx, token, c->epoch, c->seq);
        } else
            n = snprintf(msg, sizeof msg,
                         "{\"type\":\"connect\",\"id\":1,\"room\":\"%s\",\"username\":\"u%d\","
                         "\"token\":\"%s\"%s}",
                         opt.room, opt.id_base + c->idx, token,
                         opt.sampling ? ",\"sampling\":true" : "");
        send_text(c, msg, (size_t)n);
    } else if (opt.proto == P_WS && opt.hello) {
        char msg[8192];
        int n = snprintf(msg, sizeof msg, "{\"type\":\"hello\",\"room\":\"%s\",\"token\":\"%s\"}",
                         opt.room, token_of(c));
        send_text(c, msg, (size_t)n);
    } else if (opt.proto == P_WS) {
        on_joined(c);
    }
    /* socket.io: wait for the engine.io open packet */
}

static void on_handshake_bytes(struct conn *c, const uint8_t *p, size_t n, int64_t now)
{
    acc_append(c, p, n);
    char *end = memmem(c->acc, c->acc_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->acc_len > 16384) {
            st.err_handshake++;
            conn_close(c, 1);
        }
        return;
    }
    if (strncmp((char *)c->acc, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr((char *)c->acc, "\r\n");
        note("handshake refused: %.*s", eol ? (int)(eol - (char *)c->acc) : 80, c->acc);
        st.err_handshake++;
        conn_close(c, 1);
        return;
    }
    /* frames may follow the response in the same read: feed them from the old buffer */
    uint8_t *old = c->acc;
    size_t used = (size_t)(end + 4 - (char *)old);
    size_t rest = c->acc_len - used;
    c->acc = NULL;
    c->acc_len = c->acc_cap = 0;
    after_handshake(c);
    if (rest > 0 && c->state != C_CLOSED)
        feed_frames(c, old + used, rest, now);
    free(old);
}

/* A connection lost before it joined: say why (the first few), count it. */
static void lost_before_join(struct conn *c, const char *why)
{
    static int told;
    if (told++ < 5)
        note("connection %d lost while %s: %s", c->idx,
             c->state == C_HANDSHAKE ? "in the handshake" : "joining", why);
    if (c->state == C_HANDSHAKE)
        st.err_handshake++;
    else
        st.err_join++;
    conn_close(c, 1);
}

static void on_readable(struct conn *c)
{
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (c->state == C_HANDSHAKE || c->state == C_JOINING)
            lost_before_join(c, strerror(errno));
        else
            conn_close(c, 1);
        return;
    }
    if (r == 0) {
        if (c->state == C_HANDSHAKE || c->state == C_JOINING)
            lost_before_join(c, "closed by the server");
        else
            conn_close(c, 1);
        return;
    }
    int64_t now = now_ns();
    if (c->state == C_HANDSHAKE)
        on_handshake_bytes(c, rbuf, (size_t)r, now);
    else
        feed_frames(c, rbuf, (size_t)r, now);
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            if (storm.armed) {
                if (c != pub)
                    storm.refused++;
            } else {
                if (st.err_connect < 5)
                    note("connect: %s", strerror(err ? err : ECONNREFUSED));
                st.err_connect++;
            }
            conn_close(c, 1);
            return;
        }
        if (storm.armed && storm.first_connect_ns == 0 && c != pub)
            storm.first_connect_ns = now_ns();
        send_handshake(c);
        return;
    }
    if (!c->reader) {
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_close(c, 0);
        return;
    }
    if (ev & EPOLLOUT) {
        if (flush_out(c) < 0) {
            conn_close(c, c->state != C_JOINED);
            return;
        }
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ---- reconnect storm: backoff and the storm's course ------------------------------------ */

static void heap_push(int64_t due, int idx)
{
    int i = storm.heap_n++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (storm.heap_due[parent] <= due)
            break;
        storm.heap_due[i] = storm.heap_due[parent];
        storm.heap_idx[i] = storm.heap_idx[parent];
        i = parent;
    }
    storm.heap_due[i] = due;
    storm.heap_idx[i] = idx;
}

static int heap_pop(void)
{
    int top = storm.heap_idx[0];
    int64_t due = storm.heap_due[--storm.heap_n];
    int idx = storm.heap_idx[storm.heap_n];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= storm.heap_n)
            break;
        if (child + 1 < storm.heap_n && storm.heap_due[child + 1] < storm.heap_due[child])
            child++;
        if (storm.heap_due[child] >= due)
            break;
        storm.heap_due[i] = storm.heap_due[child];
        storm.heap_idx[i] = storm.heap_idx[child];
        i = child;
    }
    storm.heap_due[i] = due;
    storm.heap_idx[i] = idx;
    return top;
}

static double uniform_ms(double max_ms)
{
    return (double)xorshift() / 4294967296.0 * max_ms;
}

/* The delay before a client's next attempt, as the SDKs draw it (src/pchat/sdk/backoff.py):
 * after a restart close (4000, 1012) first its reconnect hint if it had one (unless
 * --storm-ignore-hint), else and then uniform in [0, B]; after any other loss the usual
 * full-jitter exponential backoff, uniform in [0, min(5 s, 0.5 s x 2^attempt)]. */
static int64_t storm_delay_ns(struct conn *c)
{
    double ms;
    if (c->hint_ms >= 0 && opt.storm_hint) {
        ms = c->hint_ms;
    } else if (c->restart_close) {
        ms = uniform_ms(opt.storm_backoff_ms);
    } else {
        double ceiling = 500.0 * (double)(1u << (c->attempts < 4 ? c->attempts : 4));
        ms = uniform_ms(ceiling < 5000 ? ceiling : 5000);
    }
    c->hint_ms = -1;
    c->attempts++;
    return (int64_t)(ms * 1e6);
}

/* A connection lost while armed: a subscriber waits its backoff, the publisher 10 ms. */
static void storm_close(struct conn *c)
{
    int64_t now = now_ns();
    int was_joined = c->state == C_JOINED;
    epoll_set(c, 0, EPOLL_CTL_DEL);
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    free(c->out);
    free(c->acc);
    c->out = c->acc = NULL;
    c->out_len = c->out_off = c->out_cap = c->acc_len = c->acc_cap = 0;
    c->want_out = 0;
    if (c == pub) {
        storm.pub_due = now + 10000000LL;
        storm.pub_rejoined = 0;
        return;
    }
    if (was_joined) {
        if (!c->storm_done)
            storm.closed++;
        if (!storm.first_close_ns)
            storm.first_close_ns = now;
        storm.last_close_ns = now;
        if (c->hint_ms >= 0)
            storm.hinted++;
    }
    heap_push(now + storm_delay_ns(c), c->idx);
}

static uint64_t *error_counts(void)
{
    static uint64_t *e[6] = {&st.err_connect, &st.err_handshake, &st.err_join,
                             &st.err_join_timeout, &st.err_protocol, &st.err_server_frames};
    static uint64_t now[6];
    for (int i = 0; i < 6; i++)
        now[i] = *e[i];
    return now;
}

static int all_at(uint64_t seq)
{
    for (int i = 0; i < opt.subscribers; i++)
        if (conns[i].seq < seq)
            return 0;
    return 1;
}

/* One turn of the storm's course; 1 when it is over (all recovered and caught up, or the
 * timeout). Before the restart: the publisher sends --storm-messages, and once every
 * subscriber has them the clients are armed and "storm armed" is noted on stderr (the
 * driver then restarts the server). */
static int storm_tick(int64_t now)
{
    if (!storm.armed) {
        if (!storm.pre_sent) {
            storm.pre_sent = 1;
            storm.target_seq = pub->seq + (uint64_t)opt.storm_messages;
            for (int i = 0; i < opt.storm_messages; i++)
                publish_one();
        }
        if (now - storm.last_scan < 10000000LL)
            return 0;
        storm.last_scan = now;
        if (failed > 0) {
            note("%d subscribers did not join: no storm", failed);
            return 1;
        }
        if (pub->seq >= storm.target_seq && all_at(storm.target_seq)) {
            storm.armed = 1;
            storm.armed_ns = now;
            memcpy(storm.err0, error_counts(), sizeof storm.err0);
            storm.cpu0 = self_cpu_seconds();
            note("storm armed: %d subscribers at seq %" PRIu64, joined, storm.target_seq);
        } else if (now - join_end > (int64_t)(opt.join_timeout * 1e9)) {
            note("the subscribers did not get the messages before the restart");
            return 1;
        }
        return 0;
    }
    if (pub->state == C_CLOSED && storm.pub_due && now >= storm.pub_due) {
        storm.pub_due = 0;
        start_connect(pub);
    }
    if (pub->state == C_JOINED && storm.pub_rejoined && storm.pub_sent < opt.storm_missed) {
        storm.target_seq = storm.pub_base + (uint64_t)opt.storm_missed;
        while (storm.pub_sent < opt.storm_missed) {
            publish_one();
            storm.pub_sent++;
        }
    }
    while (storm.heap_n > 0 && storm.heap_due[0] <= now) {
        storm.attempts++;
        start_connect(&conns[heap_pop()]);
    }
    int64_t since = storm.first_close_ns ? storm.first_close_ns : storm.armed_ns;
    if (now - since > (int64_t)(opt.storm_timeout * 1e9)) {
        note("storm timeout: %d of %d replied", storm.replied, opt.subscribers);
        return 1;
    }
    if (storm.replied < opt.subscribers || storm.pub_sent < opt.storm_missed ||
        pub->seq < storm.target_seq || now - storm.last_scan < 5000000LL)
        return 0;
    storm.last_scan = now;
    if (!all_at(storm.target_seq))
        return 0;
    storm.caught_up_ns = now;
    return 1;
}

/* epoll_wait's timeout: the next reconnect's time, at most 5 ms. */
static int storm_wait_ms(int64_t now)
{
    if (!storm.armed || storm.heap_n == 0)
        return 5;
    int64_t ms = (storm.heap_due[0] - now + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 5 ? 5 : (int)ms;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void print_storm_json(void)
{
    int64_t *t = malloc(sizeof *t * (size_t)opt.subscribers);
    int n = 0;
    for (int i = 0; i < opt.subscribers; i++)
        if (conns[i].storm_done)
            t[n++] = storm.reply_ns[i];
    qsort(t, (size_t)n, sizeof *t, cmp_i64);
    int caught_up = 0;
    for (int i = 0; i < opt.subscribers; i++)
        caught_up += conns[i].seq >= storm.target_seq;
    uint64_t *e = error_counts();
    printf(",\"storm\":{\"armed\":%s,\"backoff_ms\":%g,\"hint\":%s,\"messages\":%d,"
           "\"missed\":%d,\"target_seq\":%" PRIu64 ",\"closed\":%d,\"hinted\":%d,"
           "\"replied\":%d,\"recovered\":%d,\"not_recovered\":%d,\"gap_too_large\":%d,"
           "\"epoch_changed\":%d,\"no_recovery\":%d,\"caught_up\":%d,\"attempts\":%" PRIu64
           ",\"refused\":%" PRIu64 ",",
           storm.armed ? "true" : "false", opt.storm_backoff_ms, opt.storm_hint ? "true" : "false",
           opt.storm_messages, storm.pub_sent, storm.target_seq, storm.closed, storm.hinted,
           storm.replied, storm.recovered, storm.not_recovered, storm.reasons_gap,
           storm.reasons_epoch, storm.no_recovery, caught_up, storm.attempts, storm.refused);
    printf("\"errors\":{\"connect\":%" PRIu64 ",\"handshake\":%" PRIu64 ",\"join\":%" PRIu64
           ",\"protocol\":%" PRIu64 ",\"server_error_frames\":%" PRIu64 "},",
           e[0] - storm.err0[0], e[1] - storm.err0[1], e[2] - storm.err0[2],
           e[4] - storm.err0[4], e[5] - storm.err0[5]);
    static const char *names[] = {"armed_ns", "first_close_ns", "last_close_ns",
                                  "first_connect_ns", "first_reply_ns", "last_reply_ns",
                                  "caught_up_ns"};
    int64_t values[] = {storm.armed_ns, storm.first_close_ns, storm.last_close_ns,
                        storm.first_connect_ns, storm.first_reply_ns, storm.last_reply_ns,
                        storm.caught_up_ns};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (values[i])
            printf("\"%s\":%" PRId64 ",", names[i], values[i]);
        else
            printf("\"%s\":null,", names[i]);
    /* each subscriber's reply, ms after the first close: quantiles (nearest rank) */
    static const struct { const char *name; double q; } qs[] = {
        {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1.0}};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if (n && storm.first_close_ns) {
            size_t k = (size_t)(qs[i].q * n);
            if (k >= (size_t)n)
                k = (size_t)n - 1;
            printf("\"reply_%s_ms\":%.1f,", qs[i].name,
                   (double)(t[k] - storm.first_close_ns) / 1e6);
        } else {
            printf("\"reply_%s_ms\":null,", qs[i].name);
        }
    }
    printf("\"loadgen_cpu_seconds\":%.3f}", storm.armed ? self_cpu_seconds() - storm.cpu0 : 0.0);
    free(t);
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(void)
{
    fputs("usage: loadgen --port P --proto pchat|socketio|ws [options]\n"
          "  --host H              server address (127.0.0.1)\n"
          "  --path PATH           WebSocket path (per protocol)\n"
          "  --subscribers N       subscriber connections (100)\n"
          "  --nonreaders M        the last M subscribers stop reading after joining (0)\n"
          "  --nonreader-rcvbuf B  SO_RCVBUF of non-readers (4096; 0: system default)\n"
          "  --drain S             after the window, read the non-readers for up to S\n"
          "                        seconds to see whether the server closed them (3)\n"
          "  --rate R              messages per second; 0: saturating (10)\n"
          "  --inflight K          saturating: messages not yet received by subscriber #0 (4)\n"
          "  --warmup W            seconds published before measuring (2)\n"
          "  --duration S          seconds measured (10)\n"
          "  --size B              message text bytes (200)\n"
          "  --tokens FILE         pchat: one token per line (line i: subscriber i; line N+1:\n"
          "                        the publisher, else line 1)\n"
          "  --room NAME           pchat (and --hello) room (bench)\n"
          "  --hello               ws: send {\"type\":\"hello\",\"room\":R,\"token\":T} first\n"
          "                        (T from --tokens); joined on a {\"type\":\"welcome\"} reply\n"
          "  --source-addrs A      spread the connections over local addresses, bound before\n"
          "                        connect(): N (127.0.0.1..127.0.0.N), a range\n"
          "                        127.0.0.1-127.0.0.8, or a comma list (default: none)\n"
          "  --concurrency C       connections joining at once (100)\n"
          "  --join-timeout T      seconds for all to join (60)\n"
          "  --idle                no publisher: join, hold --duration seconds, report the\n"
          "                        server's RSS delta per connection\n"
          "  --server-pid PID[,..] the server's processes: CPU and RSS are read from /proc\n"
          "  --quiet               no progress notes on stderr\n"
          "  --reconnect-storm     pchat: join, publish --storm-messages, note \"storm armed\"\n"
          "                        on stderr and wait for the server to restart (closing\n"
          "                        every client); each reconnects after a backoff with\n"
          "                        \"recover\" from its last position; the publisher returns\n"
          "                        at once and publishes --storm-missed. Ends when every\n"
          "                        subscriber has its reply and the missed messages, or after\n"
          "                        --storm-timeout; the JSON then has a \"storm\" object\n"
          "  --storm-backoff B     ms: after a restart close (4000, 1012) each attempt waits\n"
          "                        uniform [0, B], the first the close's reconnect hint (2000)\n"
          "  --storm-ignore-hint   the first attempt waits uniform [0, B] too\n"
          "  --storm-messages K    published before the restart (5)\n"
          "  --storm-missed M      published right after it, missed by the clients (5)\n"
          "  --storm-timeout T     seconds from the first close (60)\n"
          "  --sampling            pchat: connect with \"sampling\": true (the client takes a\n"
          "                        sampled stream in a huge room, docs/protocol.md 4)\n"
          "  --id-base K           subscriber i is user u<K+i> with token line K+i+1 (the\n"
          "                        publisher: line K+N+1): several processes, one room (0)\n"
          "  --wait-go             after joining (and the publisher), note \"ready\" on stderr\n"
          "                        and wait for \"go START END\" on stdin (CLOCK_REALTIME ns):\n"
          "                        publish from then on, measure from START to END (instead\n"
          "                        of --warmup and --duration), then stop publishing and\n"
          "                        read every connection --drain more seconds. The JSON\n"
          "                        then has a \"go\" object: the latency histogram and the\n"
          "                        fewest and most deliveries of a subscriber\n"
          "  --no-publisher        with --wait-go: subscribers only (another process\n"
          "                        publishes)\n",
          stderr);
    exit(2);
}

static void parse_pids(const char *s)
{
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            die("bad --server-pid: %s", s);
        if (opt.n_server_pids == MAX_SERVER_PIDS)
            die("too many server pids");
        opt.server_pids[opt.n_server_pids++] = (pid_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            die("bad --server-pid list");
    }
}

/* "N", "A-B" (IPv4, B's last octets may be abbreviated as in 127.0.0.1-8) or "A,B,C". */
static void parse_source_addrs(const char *spec)
{
    char buf[4096];
    if (strlen(spec) >= sizeof buf)
        die("--source-addrs is too long");
    strcpy(buf, spec);
    opt.n_source_addrs = 0;
    if (!strchr(buf, '.')) {
        int n = atoi(buf);
        if (n < 1 || n > 254 || n > MAX_SOURCE_ADDRS)
            die("--source-addrs N: N must be within 1..254");
        for (int i = 0; i < n; i++)
            opt.source_addrs[opt.n_source_addrs++].s_addr = htonl(0x7f000001u + (uint32_t)i);
        return;
    }
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(part, '-');
        struct in_addr first, last;
        if (dash)
            *dash = 0;
        if (inet_pton(AF_INET, part, &first) != 1)
            die("bad --source-addrs address: %s", part);
        last = first;
        if (dash) {
            const char *hi = dash + 1;
            if (!strchr(hi, '.')) { /* 127.0.0.1-8: the last octet */
                long v = strtol(hi, NULL, 10);
                if (v < 0 || v > 255)
                    die("bad --source-addrs range end: %s", hi);
                last.s_addr = htonl((ntohl(first.s_addr) & 0xffffff00u) | (uint32_t)v);
            } else if (inet_pton(AF_INET, hi, &last) != 1) {
                die("bad --source-addrs address: %s", hi);
            }
        }
        for (uint32_t a = ntohl(first.s_addr); a <= ntohl(last.s_addr); a++) {
            if (opt.n_source_addrs == MAX_SOURCE_ADDRS)
                die("--source-addrs: more than %d addresses", MAX_SOURCE_ADDRS);
            opt.source_addrs[opt.n_source_addrs++].s_addr = htonl(a);
        }
    }
    if (opt.n_source_addrs == 0)
        die("--source-addrs names no address");
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, 0, 'h'},       {"port", required_argument, 0, 'p'},
        {"path", required_argument, 0, 'P'},       {"proto", required_argument, 0, 'x'},
        {"subscribers", required_argument, 0, 'n'}, {"nonreaders", required_argument, 0, 'm'},
        {"rate", required_argument, 0, 'r'},       {"inflight", required_argument, 0, 'k'},
        {"warmup", required_argument, 0, 'w'},     {"duration", required_argument, 0, 'd'},
        {"tokens", required_argument, 0, 't'},     {"room", required_argument, 0, 'R'},
        {"concurrency", required_argument, 0, 'c'}, {"join-timeout", required_argument, 0, 'j'},
        {"idle", no_argument, 0, 'i'},             {"size", required_argument, 0, 's'},
        {"nonreader-rcvbuf", required_argument, 0, 'b'},
        {"drain", required_argument, 0, 'D'},
        {"server-pid", required_argument, 0, 'S'}, {"quiet", no_argument, 0, 'q'},
        {"hello", no_argument, 0, 'H'},           {"source-addrs", required_argument, 0, 'A'},
        {"reconnect-storm", no_argument, 0, 'Z'},
        {"storm-backoff", required_argument, 0, 'B'},
        {"storm-ignore-hint", no_argument, 0, 'I'},
        {"storm-messages", required_argument, 0, 'K'},
        {"storm-missed", required_argument, 0, 'M'},
        {"storm-timeout", required_argument, 0, 'T'},
        {"sampling", no_argument, 0, 'g'},        {"id-base", required_argument, 0, 'X'},
        {"wait-go", no_argument, 0, 'G'},         {"no-publisher", no_argument, 0, 'N'},
        {"help", no_argument, 0, '?'},             {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'P': opt.path = optarg; break;
        case 'x':
            if (!strcmp(optarg, "pchat")) opt.proto = P_PCHAT;
            else if (!strcmp(optarg, "socketio")) opt.proto = P_SOCKETIO;
            else if (!strcmp(optarg, "ws")) opt.proto = P_WS;
            else die("unknown --proto %s", optarg);
            break;
        case 'n': opt.subscribers = atoi(optarg); break;
        case 'm': opt.nonreaders = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'k': opt.inflight = atoi(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 't': opt.tokens_file = optarg; break;
        case 'R': opt.room = optarg; break;
        case 'c': opt.concurrency = atoi(optarg); break;
        case 'j': opt.join_timeout = atof(optarg); break;
        case 'i': opt.idle = 1; break;
        case 's': opt.size = atoi(optarg); break;
        case 'b': opt.nonreader_rcvbuf = atoi(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'S': parse_pids(optarg); break;
        case 'q': opt.quiet = 1; break;
        case 'H': opt.hello = 1; break;
        case 'A': parse_source_addrs(optarg); break;
        case 'Z': opt.storm = 1; break;
        case 'B': opt.storm_backoff_ms = atof(optarg); break;
        case 'I': opt.storm_hint = 0; break;
        case 'K': opt.storm_messages = atoi(optarg); break;
        case 'M': opt.storm_missed = atoi(optarg); break;
        case 'T': opt.storm_timeout = atof(optarg); break;
        case 'g': opt.sampling = 1; break;
        case 'X': opt.id_base = atoi(optarg); break;
        case 'G': opt.wait_go = 1; break;
        case 'N': opt.no_publisher = 1; break;
        default: usage();
        }
    }
    if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.proto < 0)
        usage();
    if (opt.subscribers < 1 || opt.nonreaders < 0 || opt.nonreaders >= opt.subscribers)
        die("need 1 <= subscribers and 0 <= nonreaders < subscribers");
    if (opt.size < 32 || opt.size > 4000)
        die("--size must be within 32..4000");
    if (opt.inflight < 1 || opt.concurrency < 1 || opt.duration <= 0 || opt.warmup < 0)
        die("bad --inflight, --concurrency, --duration or --warmup");
    if (opt.hello && (opt.proto != P_WS || !opt.tokens_file))
        die("--hello is for --proto ws and needs --tokens");
    if (opt.storm && (opt.proto != P_PCHAT || opt.idle || opt.nonreaders > 0))
        die("--reconnect-storm is for --proto pchat, without --idle and --nonreaders");
    if (opt.storm && (opt.storm_backoff_ms < 0 || opt.storm_messages < 0 ||
                      opt.storm_missed < 0 || opt.storm_timeout <= 0))
        die("bad --storm-backoff, --storm-messages, --storm-missed or --storm-timeout");
    if (opt.sampling && opt.proto != P_PCHAT)
        die("--sampling is for --proto pchat");
    if (opt.id_base < 0)
        die("bad --id-base");
    if (opt.wait_go && (opt.idle || opt.storm))
        die("--wait-go is not for --idle or --reconnect-storm");
    if (opt.no_publisher && !opt.wait_go)
        die("--no-publisher needs --wait-go");
    if (!opt.path)
        opt.path = opt.proto == P_PCHAT      ? "/public-chat/ws"
                   : opt.proto == P_SOCKETIO ? "/socket.io/?EIO=4&transport=websocket"
                                             : "/";
}

static void load_tokens(void)
{
    if (!opt.tokens_file)
        return;
    FILE *f = fopen(opt.tokens_file, "r");
    if (!f)
        die("%s: %s", opt.tokens_file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int alloc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        if (n_tokens == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            tokens = xrealloc(tokens, sizeof *tokens * (size_t)alloc);
        }
        tokens[n_tokens++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (n_tokens == 0)
        die("%s: no tokens", opt.tokens_file);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)n_conns + 64;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= need)
        return;
    if (rl.rlim_max < need) {
        rl.rlim_max = need; /* works as root (CAP_SYS_RESOURCE) */
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            return;
        getrlimit(RLIMIT_NOFILE, &rl);
        die("%d connections need %lu open files; the hard limit is %lu (raising it needs "
            "CAP_SYS_RESOURCE: ulimit -Hn, systemd LimitNOFILE)",
            n_conns, (unsigned long)need, (unsigned long)rl.rlim_max);
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("setrlimit: %s", strerror(errno));
}

/* CPU times of the join storm: from the first connect to the last join. */
static void end_join_cpu(void)
{
    st.join_cpu = self_cpu_seconds() - st.join_cpu_start;
    double srv = server_cpu_seconds();
    st.join_srv_cpu = srv >= 0 && st.join_srv_cpu_start >= 0 ? srv - st.join_srv_cpu_start : -1;
}

static void start_window(int64_t now)
{
    in_window = 1;
    win_start = now;
    win_end = opt.wait_go ? go_end : now + (int64_t)(opt.duration * 1e9);
    st.cpu_win_start = self_cpu_seconds();
    st.srv_cpu_start = server_cpu_seconds();
}

static void end_window(int64_t now)
{
    in_window = 0;
    window_done = 1;
    win_end = now;
    st.cpu_win = self_cpu_seconds() - st.cpu_win_start;
    double srv = server_cpu_seconds();
    st.srv_cpu = (srv >= 0 && st.srv_cpu_start >= 0) ? srv - st.srv_cpu_start : -1;
    if (opt.idle)
        st.srv_rss_after = server_rss_kb();
}

static void start_publishing(int64_t now)
{
    publishing = 1;
    pub_start = now;
    last_progress = now;
    if (opt.warmup <= 0 && !opt.wait_go)
        start_window(now);
    if (opt.rate > 0) {
        timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (timer_fd < 0)
            die("timerfd_create: %s", strerror(errno));
        int64_t interval = (int64_t)(1e9 / opt.rate);
        if (interval < 1)
            interval = 1;
        struct itimerspec its = {
            .it_interval = {interval / 1000000000, interval % 1000000000},
            .it_value = {0, 1},
        };
        timerfd_settime(timer_fd, 0, &its, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &timer_tag};
        epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);
    } else {
        publish_saturating();
    }
}

/* The window is over: stop publishing and read the non-readers again. A server closes a
 * client that does not read with a close frame it cannot see, or cuts it off without a
 * FIN it can see (the FIN waits behind the unread data); reading is the only way to know.
 * Returns the number of non-readers still open. */
static int start_drain(void)
{
    publishing = 0;
    if (timer_fd >= 0) {
        close(timer_fd);
        timer_fd = -1;
    }
    int open_nonreaders = 0;
    for (int i = opt.subscribers - opt.nonreaders; i < opt.subscribers; i++) {
        struct conn *c = &conns[i];
        if (c->state != C_JOINED)
            continue;
        c->reader = 1;
        c->draining = 1;
        epoll_set(c, conn_events(c), EPOLL_CTL_MOD);
        open_nonreaders++;
    }
    return open_nonreaders;
}

static int nonreaders_open(void)
{
    int n = 0;
    for (int i = opt.subscribers - opt.nonreaders; i < opt.subscribers; i++)
        n += conns[i].state == C_JOINED;
    return n;
}

static void on_timer(void)
{
    uint64_t expirations = 0;
    if (read(timer_fd, &expirations, sizeof expirations) != sizeof expirations)
        return;
    if (expirations > MAX_BURST) {
        st.publish_skipped += expirations - MAX_BURST;
        expirations = MAX_BURST;
    }
    for (uint64_t i = 0; i < expirations && publishing; i++)
        publish_one();
}

/* --wait-go: joined; wait for "go START END" on stdin, connections served meanwhile. */
static void await_go(int64_t now)
{
    note("ready: %d joined in %.2f s", joined, (double)(now - join_start) / 1e9);
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0)
        die("epoll_ctl(stdin): %s", strerror(errno));
}

/* stdin is readable: 1 once "go START END" arrived, -1 at its end without one, else 0. */
static int read_go(void)
{
    static char line[256];
    static size_t len;
    ssize_t r = read(STDIN_FILENO, line + len, sizeof line - 1 - len);
    if (r == 0)
        return -1;
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    len += (size_t)r;
    line[len] = 0;
    if (!strchr(line, '\n')) {
        if (len == sizeof line - 1)
            die("stdin: a line too long");
        return 0;
    }
    long long a, b;
    if (sscanf(line, "go %lld %lld", &a, &b) != 2 || b <= a)
        die("stdin: expected \"go START_NS END_NS\", got %s", line);
    go_start = a;
    go_end = b;
    epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
    return 1;
}

/* --wait-go: what the caller merges: the histogram (sparse [index, count] pairs; bucket
 * i < 128 is i us, then 64 per power of two, as hist_add) and per-subscriber counts. */
static void print_go_json(void)
{
    uint64_t lo = UINT64_MAX, hi = 0, readers = 0;
    for (int i = 0; i < opt.subscribers - opt.nonreaders; i++) {
        if (conns[i].state != C_JOINED)
            continue;
        readers++;
        if (conns[i].delivered < lo)
            lo = conns[i].delivered;
        if (conns[i].delivered > hi)
            hi = conns[i].delivered;
    }
    printf(",\"go\":{\"window_start_ns\":%" PRId64 ",\"window_end_ns\":%" PRId64
           ",\"open_readers\":%" PRIu64 ",\"per_reader_deliveries_min\":%" PRIu64
           ",\"per_reader_deliveries_max\":%" PRIu64 ",\"latency_count\":%" PRIu64
           ",\"latency_sum_us\":%.0f,\"latency_max_us\":%" PRIu64 ",\"latency_hist\":[",
           go_start, go_end, readers, readers ? lo : 0, hi, hist_count, hist_sum_us, hist_max_us);
    int first = 1;
    for (size_t i = 0; i < HIST_SIZE; i++)
        if (hist[i]) {
            printf("%s[%zu,%" PRIu64 "]", first ? "" : ",", i, hist[i]);
            first = 0;
        }
    printf("]}");
}

static void print_json(void)
{
    double win_s = (double)(win_end - win_start) / 1e9;
    if (!window_done || win_s <= 0)
        win_s = 0;
    int readers = joined - opt.nonreaders > 0 ? joined - opt.nonreaders : 0;
    uint64_t errors = st.err_connect + st.err_handshake + st.err_join + st.err_join_timeout +
                      st.err_protocol + st.err_server_frames + st.err_publisher;
    static const char *names[] = {"pchat", "socketio", "ws"};
    printf("{\"proto\":\"%s\",\"mode\":\"%s\",\"hello\":%s,\"source_addrs\":%d,"
           "\"concurrency\":%d,\"subscribers\":%d,\"nonreaders\":%d,"
           "\"joined\":%d,\"join_seconds\":%.4f,\"join_loadgen_cpu_seconds\":%.3f,",
           names[opt.proto],
           opt.storm  ? "reconnect-storm"
           : opt.idle ? "idle"
           : opt.rate > 0 ? "rate"
                          : "saturate",
           opt.hello ? "true" : "false", opt.n_source_addrs, opt.concurrency, opt.subscribers,
           opt.nonreaders, joined, (double)(join_end - join_start) / 1e9, st.join_cpu);
    if (st.join_srv_cpu >= 0)
        printf("\"join_server_cpu_seconds\":%.3f,", st.join_srv_cpu);
    else
        printf("\"join_server_cpu_seconds\":null,");
    printf("\"rate\":%g,\"inflight\":%d,\"size\":%d,\"warmup\":%g,\"duration\":%g,"
           "\"drain\":%g,\"window_seconds\":%.4f,",
           opt.rate, opt.inflight, opt.size, opt.warmup, opt.duration, opt.drain, win_s);
    printf("\"sent\":%" PRIu64 ",\"sent_per_s\":%.2f,\"sent_total\":%" PRIu64
           ",\"deliveries\":%" PRIu64 ",\"deliveries_per_s\":%.2f,\"deliveries_total\":%" PRIu64
           ",\"delivery_ratio\":%.4f,",
           st.sent, win_s > 0 ? (double)st.sent / win_s : 0.0, st.sent_total, st.deliveries,
           win_s > 0 ? (double)st.deliveries / win_s : 0.0, st.deliveries_total,
           st.sent && readers ? (double)st.deliveries / ((double)st.sent * readers) : 0.0);
    static const struct { const char *name; double q; } quantiles[] = {
        {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++) {
        if (hist_count)
            printf("\"latency_%s_ms\":%.3f,", quantiles[i].name, hist_quantile_ms(quantiles[i].q));
        else
            printf("\"latency_%s_ms\":null,", quantiles[i].name);
    }
    if (hist_count)
        printf("\"latency_max_ms\":%.3f,\"latency_mean_ms\":%.3f,", (double)hist_max_us / 1000.0,
               hist_sum_us / (double)hist_count / 1000.0);
    else
        printf("\"latency_max_ms\":null,\"latency_mean_ms\":null,");
    printf("\"errors\":%" PRIu64 ",\"error_kinds\":{\"connect\":%" PRIu64 ",\"handshake\":%" PRIu64
           ",\"join\":%" PRIu64 ",\"join_timeout\":%" PRIu64 ",\"protocol\":%" PRIu64
           ",\"server_error_frames\":%" PRIu64 ",\"publisher\":%" PRIu64 "},",
           errors, st.err_connect, st.err_handshake, st.err_join, st.err_join_timeout,
           st.err_protocol, st.err_server_frames, st.err_publisher);
    printf("\"closed\":%" PRIu64 ",\"closed_readers\":%" PRIu64 ",\"closed_nonreaders\":%" PRIu64
           ",\"close_codes\":{",
           st.closed_readers + st.closed_nonreaders, st.closed_readers, st.closed_nonreaders);
    for (int i = 0; i < st.n_close_codes; i++)
        printf("%s\"%d\":%d", i ? "," : "", st.close_codes[i][0], st.close_codes[i][1]);
    printf("},\"publish_skipped\":%" PRIu64 ",\"stalls\":%" PRIu64 ",", st.publish_skipped,
           st.stalls);
    printf("\"loadgen_cpu_seconds\":%.3f,\"loadgen_cpu_total_seconds\":%.3f,", st.cpu_win,
           self_cpu_seconds());
    if (st.srv_cpu >= 0)
        printf("\"server_cpu_seconds\":%.3f,", st.srv_cpu);
    else
        printf("\"server_cpu_seconds\":null,");
    if (opt.idle && st.srv_rss_before >= 0 && st.srv_rss_after >= 0 && joined > 0)
        printf("\"server_rss_before_kb\":%ld,\"server_rss_after_kb\":%ld,"
               "\"server_rss_per_conn_bytes\":%.1f",
               st.srv_rss_before, st.srv_rss_after,
               (double)(st.srv_rss_after - st.srv_rss_before) * 1024.0 / joined);
    else
        printf("\"server_rss_before_kb\":null,\"server_rss_after_kb\":null,"
               "\"server_rss_per_conn_bytes\":null");
    if (opt.storm)
        print_storm_json();
    if (opt.wait_go)
        print_go_json();
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    load_tokens();
    signal(SIGPIPE, SIG_IGN);
    n_conns = opt.subscribers + (opt.idle || opt.no_publisher ? 0 : 1);
    raise_nofile();
    rng ^= (uint32_t)getpid() * 2654435761u;

    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1)
        die("--host must be an IPv4 address: %s", opt.host);

    conns = calloc((size_t)n_conns, sizeof *conns);
    if (!conns)
        die("out of memory");
    for (int i = 0; i < n_conns; i++) {
        conns[i].idx = i;
        conns[i].fd = -1;
        conns[i].hint_ms = -1;
    }
    if (opt.storm) {
        storm.reply_ns = calloc((size_t)opt.subscribers, sizeof *storm.reply_ns);
        /* a subscriber is in the heap at most once */
        storm.heap_due = calloc((size_t)opt.subscribers, sizeof *storm.heap_due);
        storm.heap_idx = calloc((size_t)opt.subscribers, sizeof *storm.heap_idx);
        if (!storm.reply_ns || !storm.heap_due || !storm.heap_idx)
            die("out of memory");
    }
    pub = opt.idle || opt.no_publisher ? NULL : &conns[opt.subscribers];
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));

    if (opt.idle)
        st.srv_rss_before = server_rss_kb();

    static struct epoll_event events[MAX_EVENTS];
    st.join_cpu_start = self_cpu_seconds();
    st.join_srv_cpu_start = server_cpu_seconds();
    join_start = now_ns();
    /* 0: subscribers joining; 1: publisher joining; 2: publishing or holding; 3: draining;
     * 4: waiting for "go" (--wait-go) */
    int phase = 0;
    int64_t hold_end = 0, drain_end = 0;
    for (;;) {
        int64_t now = now_ns();
        if (phase == 0) {
            while (pending < opt.concurrency && next_to_connect < opt.subscribers)
                start_connect(&conns[next_to_connect++]);
            if (joined + failed >= opt.subscribers) {
                join_end = now;
                end_join_cpu();
                note("%d joined in %.2f s (%d failed)", joined, (double)(now - join_start) / 1e9,
                     failed);
                if (joined == 0)
                    break;
                phase = 1;
                if (opt.idle) {
                    phase = 2;
                    start_window(now);
                    hold_end = win_end;
                } else if (opt.no_publisher) {
                    phase = 4;
                    await_go(now);
                } else {
                    start_connect(pub);
                }
            } else if (now - join_start > (int64_t)(opt.join_timeout * 1e9)) {
                note("join timeout: %d of %d joined", joined, opt.subscribers);
                next_to_connect = opt.subscribers;
                for (int i = 0; i < opt.subscribers; i++)
                    if (conns[i].state != C_JOINED && conns[i].state != C_CLOSED) {
                        st.err_join_timeout++;
                        if (conns[i].state == C_IDLE) {
                            failed++;
                            conns[i].state = C_CLOSED;
                        } else {
                            conn_close(&conns[i], 1);
                        }
                    }
                continue;
            }
        } else if (phase == 1) {
            if (pub->state == C_JOINED && opt.wait_go) {
                phase = 4;
                await_go(now);
            } else if (pub->state == C_JOINED) {
                phase = 2;
                if (!opt.storm)
                    start_publishing(now);
            } else if (pub->state == C_CLOSED) {
                note("the publisher could not join");
                st.err_publisher++;
                break;
            } else if (now - join_end > (int64_t)(opt.join_timeout * 1e9)) {
                note("the publisher did not join in time");
                st.err_publisher++;
                break;
            }
        } else if (phase == 3) {
            if (now >= drain_end || (!opt.wait_go && nonreaders_open() == 0))
                break;
        } else if (phase == 4) {
            if (go_end) {
                phase = 2;
                if (pub)
                    start_publishing(now);
                continue;
            }
        } else if (opt.storm) {
            if (storm_tick(now))
                break;
        } else {
            if (opt.idle) {
                if (now >= hold_end) {
                    end_window(now);
                    break;
                }
            } else {
                int64_t opens = opt.wait_go ? go_start : pub_start + (int64_t)(opt.warmup * 1e9);
                if (!in_window && !window_done && now >= opens)
                    start_window(now);
                if (in_window && now >= win_end) {
                    end_window(now);
                    if (opt.wait_go) {
                        /* every connection is read a while longer: per-reader counts */
                        start_drain();
                        if (opt.drain <= 0)
                            break;
                    } else if (opt.nonreaders == 0 || opt.drain <= 0 || start_drain() == 0) {
                        break;
                    }
                    phase = 3;
                    drain_end = now + (int64_t)(opt.drain * 1e9);
                    continue;
                }
                if (pub && pub->state != C_JOINED) {
                    note("the publisher's connection closed");
                    if (in_window)
                        end_window(now);
                    break;
                }
                if (opt.rate <= 0 && inflight >= opt.inflight && now - last_progress > STALL_NS) {
                    st.stalls++;
                    inflight = 0;
                    last_progress = now;
                    publish_saturating();
                }
            }
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, opt.storm ? storm_wait_ms(now) : 5);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &timer_tag) {
                on_timer();
                continue;
            }
            if (events[i].data.ptr == &stdin_tag) {
                if (read_go() < 0) {
                    note("stdin ended before \"go\"");
                    goto done;
                }
                continue;
            }
            on_event(events[i].data.ptr, events[i].events);
        }
        if (publishing && opt.rate <= 0 && phase == 2)
            publish_saturating();
    }
done:
    if (join_end == 0) {
        join_end = now_ns();
        end_join_cpu();
    }
    print_json();
    return 0;
}
