// New TCP connections one after another for a fixed time, and a one-shot
// probe, for the policy benchmark (bench/policy.ts builds it into
// bench/out/bin with the system C compiler).
//
//   policy_conn rate HOST PORT SECONDS WARMUP_SECONDS
//       for WARMUP_SECONDS, then SECONDS: connect, send 1 byte, read the
//       echo, close; one connection at a time. Prints
//       {"connections":N,"warmupConnections":W,"seconds":S,"rate":R,"p50Us":..,
//       "p99Us":..,"failures":F}
//       (rate = connections / S; latencies are connect to echo, the close
//       not included). A failed connection counts as a failure and ends the
//       run (exit 1).
//   policy_conn probe HOST PORT TIMEOUT_MS
//       one non-blocking connect; prints {"result":"connected"|"refused"|
//       "timeout"|"error","errno":N,"ms":T}; exit 0 whatever the result.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct sockaddr_in addr_of(const char *host, int port) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "policy_conn: bad address %s\n", host);
		exit(2);
	}
	return a;
}

/* One connection: connect, 1-byte round trip, close. 0 on success. */
static int one(const struct sockaddr_in *a) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	char c = 'x';
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0 || write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static int rate(const char *host, int port, double seconds, double warmup) {
	struct sockaddr_in a = addr_of(host, port);
	double t = now_us(), end = t + warmup * 1e6;
	size_t warm = 0;
	while (now_us() < end) {
		warm++;
		if (one(&a) < 0) {
			fprintf(stderr, "policy_conn: warm-up connection to %s:%d: %s\n", host, port, strerror(errno));
			printf("{\"connections\":0,\"seconds\":0,\"rate\":0,\"failures\":1}\n");
			return 1;
		}
	}
	size_t cap = 1 << 16, n = 0;
	double *lat = malloc(cap * sizeof *lat);
	double start = now_us();
	end = start + seconds * 1e6;
	int failures = 0;
	for (;;) {
		double t0 = now_us();
		if (t0 >= end) break;
		if (one(&a) < 0) {
			fprintf(stderr, "policy_conn: connection %zu to %s:%d: %s\n", n, host, port, strerror(errno));
			failures++;
			break;
		}
		if (n == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
		lat[n++] = now_us() - t0;
	}
	double elapsed = (now_us() - start) / 1e6;
	qsort(lat, n, sizeof *lat, cmp);
	double p50 = n ? lat[(size_t)(0.50 * (n - 1))] : 0, p99 = n ? lat[(size_t)(0.99 * (n - 1))] : 0;
	printf("{\"connections\":%zu,\"warmupConnections\":%zu,\"seconds\":%.6f,\"rate\":%.1f,\"p50Us\":%.2f,\"p99Us\":%.2f,\"failures\":%d}\n", n, warm, elapsed, n / elapsed, p50, p99, failures);
	free(lat);
	return failures ? 1 : 0;
}

static int probe(const char *host, int port, int timeout_ms) {
	struct sockaddr_in a = addr_of(host, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	double t0 = now_us();
	const char *result = "connected";
	int err = 0;
	if (connect(fd, (const struct sockaddr *)&a, sizeof a) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int r = poll(&p, 1, timeout_ms);
			if (r == 0) {
				result = "timeout";
			} else {
				socklen_t len = sizeof err;
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
			}
		}
	}
	if (err == ECONNREFUSED) result = "refused";
	else if (err == ETIMEDOUT) result = "timeout";
	else if (err) result = "error";
	printf("{\"result\":\"%s\",\"errno\":%d,\"ms\":%.1f}\n", result, err, (now_us() - t0) / 1e3);
	close(fd);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 6 && strcmp(argv[1], "rate") == 0) return rate(argv[2], atoi(argv[3]), atof(argv[4]), atof(argv[5]));
	if (argc == 5 && strcmp(argv[1], "probe") == 0) return probe(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: policy_conn rate HOST PORT SECONDS WARMUP_SECONDS | probe HOST PORT TIMEOUT_MS\n");
	return 2;
}
