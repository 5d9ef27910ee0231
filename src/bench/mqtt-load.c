/* MQTT load generator for `tributary bench` (compiled at run time: gcc -O2 mqtt-load.c -lmosquitto).
 * N publishers, one thread and one libmosquitto client each, keep `window` PUBLISHes in flight:
 * each on_publish (PUBACK at QoS 1; the packet written to the socket at QoS 0) sends the next one.
 * Runs for D seconds or M messages after every client has its CONNACK, then prints one JSON line:
 * messages completed per second, PUBACK latency p50/p99 (QoS 1) and this process's own CPU time.
 * usage: mqtt-load HOST PORT CLIENTS QOS WINDOW SECONDS MAX_MESSAGES PAYLOAD_BYTES [PROTOCOL]
 * PROTOCOL: 4 (MQTT 3.1.1, the default) or 5 (MQTT 5). */
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct client {
  struct mosquitto *mosq;
  int index;
  atomic_int connected, failed;
  atomic_long done; /* messages completed while the clock ran */
  double sent_at[65536]; /* by mid: libmosquitto's mids are 1..65535 */
  float *lat_ms; long lat_n, lat_cap;
};

static const char *host; static int port, qos, window_size, payload_bytes;
static char *payload;
static atomic_int go, stop;

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void publish_one(struct client *c) {
  char topic[64]; int mid = 0;
  snprintf(topic, sizeof topic, "bench/mqtt/%d", c->index);
  double t = now_s(); /* before the call: the write is part of the latency */
  int rc = mosquitto_publish(c->mosq, &mid, topic, payload_bytes, payload, qos, false);
  if (rc != MOSQ_ERR_SUCCESS) { fprintf(stderr, "client %d: publish: %s\n", c->index, mosquitto_strerror(rc)); atomic_store(&c->failed, 1); return; }
  c->sent_at[mid & 0xffff] = t;
}

static void on_connect(struct mosquitto *m, void *ud, int rc) {
  struct client *c = ud; (void)m;
  if (rc != 0) { fprintf(stderr, "client %d: CONNACK %d\n", c->index, rc); atomic_store(&c->failed, 1); return; }
  atomic_store(&c->connected, 1);
}

static void on_publish(struct mosquitto *m, void *ud, int mid) {
  struct client *c = ud; (void)m;
  if (atomic_load(&stop)) return;
  atomic_fetch_add(&c->done, 1);
  if (qos > 0) {
    if (c->lat_n == c->lat_cap) { c->lat_cap = c->lat_cap ? c->lat_cap * 2 : 65536; c->lat_ms = realloc(c->lat_ms, c->lat_cap * sizeof(float)); }
    c->lat_ms[c->lat_n++] = (float)((now_s() - c->sent_at[mid & 0xffff]) * 1000);
  }
  publish_one(c);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc) {
  struct client *c = ud; (void)m;
  if (!atomic_load(&stop)) { fprintf(stderr, "client %d: disconnected: %s\n", c->index, mosquitto_strerror(rc)); atomic_store(&c->failed, 1); }
}

static void *run_client(void *arg) {
  struct client *c = arg; int primed = 0;
  int rc = mosquitto_connect(c->mosq, host, port, 0);
  if (rc != MOSQ_ERR_SUCCESS) { fprintf(stderr, "client %d: connect: %s\n", c->index, mosquitto_strerror(rc)); atomic_store(&c->failed, 1); return NULL; }
  while (!atomic_load(&stop) && !atomic_load(&c->failed)) {
    if (!primed && atomic_load(&go)) { primed = 1; for (int i = 0; i < window_size; i++) publish_one(c); }
    rc = mosquitto_loop(c->mosq, 10, 1);
    if (rc != MOSQ_ERR_SUCCESS && !atomic_load(&stop)) { fprintf(stderr, "client %d: loop: %s\n", c->index, mosquitto_strerror(rc)); atomic_store(&c->failed, 1); }
  }
  return NULL;
}

static int cmp_float(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }

static double cpu_s(void) {
  struct rusage u; getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 9 && argc != 10) { fprintf(stderr, "usage: %s HOST PORT CLIENTS QOS WINDOW SECONDS MAX_MESSAGES PAYLOAD_BYTES [PROTOCOL]\n", argv[0]); return 2; }
  int protocol = argc == 10 ? atoi(argv[9]) : 4;
  if (protocol != 4 && protocol != 5) { fprintf(stderr, "PROTOCOL must be 4 (MQTT 3.1.1) or 5 (MQTT 5)\n"); return 2; }
  host = argv[1]; port = atoi(argv[2]); int n = atoi(argv[3]); qos = atoi(argv[4]); window_size = atoi(argv[5]);
  double seconds = atof(argv[6]); long max_messages = atol(argv[7]); payload_bytes = atoi(argv[8]);
  payload = malloc(payload_bytes); memset(payload, 'x', payload_bytes);
  mosquitto_lib_init();
  struct client *cs = calloc(n, sizeof *cs); pthread_t *th = calloc(n, sizeof *th);
  for (int i = 0; i < n; i++) {
    char id[64]; snprintf(id, sizeof id, "bench-load-%d-%d", (int)getpid(), i);
    cs[i].index = i; cs[i].mosq = mosquitto_new(id, true, &cs[i]);
    /* libmosquitto sends at most 20 QoS 1 messages at a time by default: make that the window. */
    mosquitto_max_inflight_messages_set(cs[i].mosq, window_size);
    mosquitto_int_option(cs[i].mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(cs[i].mosq, MOSQ_OPT_PROTOCOL_VERSION, protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(cs[i].mosq, on_connect);
    mosquitto_publish_callback_set(cs[i].mosq, on_publish);
    mosquitto_disconnect_callback_set(cs[i].mosq, on_disconnect);
    pthread_create(&th[i], NULL, run_client, &cs[i]);
  }
  int failed = 0;
  for (double deadline = now_s() + 10;;) { /* wait for every CONNACK */
    int ok = 0; for (int i = 0; i < n; i++) { ok += atomic_load(&cs[i].connected); failed |= atomic_load(&cs[i].failed); }
    if (ok == n || failed) break;
    if (now_s() > deadline) { fprintf(stderr, "not every client connected within 10 s\n"); failed = 1; break; }
    usleep(1000);
  }
  double t0 = now_s(), cpu0 = cpu_s(), t1 = t0; long total = 0;
  if (!failed) {
    atomic_store(&go, 1);
    for (;;) {
      usleep(1000); t1 = now_s(); total = 0;
      for (int i = 0; i < n; i++) { total += atomic_load(&cs[i].done); failed |= atomic_load(&cs[i].failed); }
      if (failed || t1 - t0 >= seconds || (max_messages > 0 && total >= max_messages)) break;
    }
  }
  atomic_store(&stop, 1);
  double cpu1 = cpu_s(); t1 = now_s(); total = 0;
  for (int i = 0; i < n; i++) total += atomic_load(&cs[i].done);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  long lat_n = 0; for (int i = 0; i < n; i++) lat_n += cs[i].lat_n;
  float *lat = malloc((lat_n + 1) * sizeof(float)); long k = 0;
  for (int i = 0; i < n; i++) { memcpy(lat + k, cs[i].lat_ms, cs[i].lat_n * sizeof(float)); k += cs[i].lat_n; }
  qsort(lat, lat_n, sizeof(float), cmp_float);
  double el = t1 - t0;
  printf("{\"ok\":%s,\"clients\":%d,\"qos\":%d,\"window\":%d,\"seconds\":%.4f,\"messages\":%ld,\"perSec\":%.1f,"
         "\"samples\":%ld,\"p50Ms\":%.4f,\"p99Ms\":%.4f,\"maxMs\":%.4f,\"cpuSeconds\":%.4f,\"cpuPct\":%.1f}\n",
         failed ? "false" : "true", n, qos, window_size, el, total, el > 0 ? total / el : 0, lat_n,
         lat_n ? lat[(long)(0.5 * lat_n)] : -1.0, lat_n ? lat[(long)(0.99 * lat_n)] : -1.0, lat_n ? lat[lat_n - 1] : -1.0,
         cpu1 - cpu0, el > 0 ? (cpu1 - cpu0) / el * 100 : 0);
  for (int i = 0; i < n; i++) { mosquitto_disconnect(cs[i].mosq); mosquitto_destroy(cs[i].mosq); }
  mosquitto_lib_cleanup();
  return failed ? 1 : 0;
}
