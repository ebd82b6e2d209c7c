/* raw_uv_echo_server: the TCP echo server of examples/loop_echo_server.cc
 * written on raw libuv, the baseline of echo_compare.sh.
 *
 *   raw_uv_echo_server [--port=7000] [--host=127.0.0.1] [--max_seconds=0]
 *                      [--high_water=1048576]
 *
 * Same behaviour, same idiom: reads go to one 64 KiB buffer shared by every
 * connection (as //loop's Loop::SharedReadBuffer); each read is
 * uv_try_write'n first and only the unsent tail is copied and queued with
 * uv_write; above --high_water queued bytes a connection stops reading until
 * its queue drained below a quarter of that. EOF: shutdown, then close; an
 * error: close. SIGINT/SIGTERM or --max_seconds closes everything; exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct conn_s {
  uv_tcp_t tcp;
  struct conn_s* prev;
  struct conn_s* next;
  int reading;
  int eof;
  int closing;
} conn_t;

typedef struct {
  uv_write_t req;
  conn_t* conn;
  char data[];
} write_op_t;

static uv_loop_t* loop;
static uv_tcp_t listener;
static uv_signal_t sigint_handle, sigterm_handle;
static uv_timer_t deadline;
static int have_deadline;
static conn_t* conns; /* doubly linked list of open connections */
static size_t high_water = 1 << 20;
static char read_buffer[64 * 1024];

static void on_conn_closed(uv_handle_t* h) { free(h->data); }

static void drop(conn_t* c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t*)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);

static void on_write(uv_write_t* req, int status) {
  write_op_t* op = (write_op_t*)req;
  conn_t* c = op->conn;
  free(op);
  if (c->closing) return; /* cancelled */
  if (status < 0) {
    drop(c);
    return;
  }
  uv_stream_t* s = (uv_stream_t*)&c->tcp;
  if (!c->eof && !c->reading &&
      uv_stream_get_write_queue_size(s) <= high_water / 4) {
    if (uv_read_start(s, on_alloc, on_read) < 0) drop(c);
    c->reading = 1;
  }
}

static void on_shutdown(uv_shutdown_t* req, int status) {
  conn_t* c = req->data;
  (void)status;
  free(req);
  drop(c);
}

static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  conn_t* c = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    if (nread != UV_EOF) {
      drop(c);
      return;
    }
    c->eof = 1;
    c->reading = 0; /* libuv stopped reading at EOF */
    uv_shutdown_t* req = malloc(sizeof *req);
    req->data = c;
    if (uv_shutdown(req, s, on_shutdown) < 0) {
      free(req);
      drop(c);
    }
    return;
  }
  uv_buf_t b = uv_buf_init(buf->base, (unsigned int)nread);
  int n = uv_try_write(s, &b, 1);
  size_t sent = 0;
  if (n >= 0) {
    if ((size_t)n == (size_t)nread) return; /* the common case */
    sent = (size_t)n;
  } else if (n != UV_EAGAIN) {
    drop(c);
    return;
  }
  size_t rest = (size_t)nread - sent;
  write_op_t* op = malloc(sizeof *op + rest);
  op->conn = c;
  memcpy(op->data, buf->base + sent, rest);
  uv_buf_t wb = uv_buf_init(op->data, (unsigned int)rest);
  if (uv_write(&op->req, s, &wb, 1, on_write) < 0) {
    free(op);
    drop(c);
    return;
  }
  if (uv_stream_get_write_queue_size(s) > high_water) {
    uv_read_stop(s);
    c->reading = 0;
  }
}

static void on_connection(uv_stream_t* server, int status) {
  if (status < 0) {
    fprintf(stderr, "raw_uv_echo_server: accept: %s\n", uv_strerror(status));
    return;
  }
  conn_t* c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t*)&c->tcp) < 0) {
    uv_close((uv_handle_t*)&c->tcp, on_conn_closed);
    return;
  }
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t*)&c->tcp, on_alloc, on_read) < 0) drop(c);
  c->reading = 1;
}

static void stop_all(void) {
  if (!uv_is_closing((uv_handle_t*)&listener)) {
    uv_close((uv_handle_t*)&listener, NULL);
  }
  while (conns) drop(conns);
  if (!uv_is_closing((uv_handle_t*)&sigint_handle)) {
    uv_close((uv_handle_t*)&sigint_handle, NULL);
    uv_close((uv_handle_t*)&sigterm_handle, NULL);
  }
  if (have_deadline && !uv_is_closing((uv_handle_t*)&deadline)) {
    uv_close((uv_handle_t*)&deadline, NULL);
  }
}

static void on_signal(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  stop_all();
}

static void on_deadline(uv_timer_t* t) {
  (void)t;
  stop_all();
}

/* Returns the value of "--name=value" or "--name value" at argv[*i]. */
static const char* flag_value(int argc, char** argv, int* i, const char* name) {
  size_t len = strlen(name);
  const char* a = argv[*i];
  if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, len) != 0) return NULL;
  if (a[2 + len] == '=') return a + 3 + len;
  if (a[2 + len] == '\0' && *i + 1 < argc) return argv[++*i];
  return NULL;
}

static int fail(const char* what, int rc) {
  fprintf(stderr, "raw_uv_echo_server: %s: %s\n", what, uv_strerror(rc));
  return 1;
}

int main(int argc, char** argv) {
  long port = 7000;
  const char* host = "127.0.0.1";
  double max_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const char* v;
    char* end;
    if ((v = flag_value(argc, argv, &i, "port")) != NULL) {
      port = strtol(v, &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "raw_uv_echo_server: bad --port=%s\n", v);
        return 1;
      }
    } else if ((v = flag_value(argc, argv, &i, "host")) != NULL) {
      host = v;
    } else if ((v = flag_value(argc, argv, &i, "max_seconds")) != NULL) {
      max_seconds = strtod(v, &end);
      if (*end != '\0' || !(max_seconds >= 0)) {
        fprintf(stderr, "raw_uv_echo_server: bad --max_seconds=%s\n", v);
        return 1;
      }
    } else if ((v = flag_value(argc, argv, &i, "high_water")) != NULL) {
      long long hw = strtoll(v, &end, 10);
      if (*end != '\0' || hw <= 0) {
        fprintf(stderr, "raw_uv_echo_server: bad --high_water=%s\n", v);
        return 1;
      }
      high_water = (size_t)hw;
    } else {
      fprintf(stderr, "raw_uv_echo_server: unknown argument %s\n", argv[i]);
      return 1;
    }
  }
  /* //loop ignores SIGPIPE when it creates a stream; so does this. */
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  struct sockaddr_storage addr;
  int rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in*)&addr);
  if (rc < 0) rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6*)&addr);
  if (rc < 0) return fail("--host", rc);
  uv_tcp_init(loop, &listener);
  if ((rc = uv_tcp_bind(&listener, (struct sockaddr*)&addr, 0)) < 0) {
    return fail("bind", rc);
  }
  if ((rc = uv_listen((uv_stream_t*)&listener, 511, on_connection)) < 0) {
    return fail("listen", rc);
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&listener, (struct sockaddr*)&bound, &len);
  char ip[64];
  int bound_port;
  if (bound.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6*)&bound, ip, sizeof ip);
    bound_port = ntohs(((struct sockaddr_in6*)&bound)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in*)&bound, ip, sizeof ip);
    bound_port = ntohs(((struct sockaddr_in*)&bound)->sin_port);
  }
  uv_signal_init(loop, &sigint_handle);
  uv_signal_init(loop, &sigterm_handle);
  uv_signal_start(&sigint_handle, on_signal, SIGINT);
  uv_signal_start(&sigterm_handle, on_signal, SIGTERM);
  if (max_seconds > 0) {
    have_deadline = 1;
    uv_timer_init(loop, &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)(max_seconds * 1000), 0);
  }
  printf(bound.ss_family == AF_INET6 ? "listening on [%s]:%d\n"
                                     : "listening on %s:%d\n",
         ip, bound_port);
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  if (rc < 0) return fail("loop close", rc);
  return 0;
}
