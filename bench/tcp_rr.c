// TCP request/response with as little userspace as possible (like netperf's
// TCP_RR and TCP_CRR), so the datapath's share of the latency shows. Built by
// bench/bench.ts with the system C compiler into bench/out/.
//
//   tcp_rr server PORT
//       echoes what it receives, one connection at a time; prints "ready".
//   tcp_rr client rr|crr HOST PORT COUNT WARMUP SIZE
//       rr:  one connection, COUNT round trips of SIZE bytes;
//       crr: COUNT times connect, one SIZE-byte round trip, close;
//       prints {"samplesUs":[...]}, one sample per round trip in µs
//       (the WARMUP first ones are done, not kept).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "tcp_rr: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void nodelay(int fd) {
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int server(int port) {
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (ls < 0) die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
	if (listen(ls, 128) < 0) die("listen");
	printf("ready\n");
	fflush(stdout);
	static char buf[65536];
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) continue;
		nodelay(c);
		for (;;) {
			ssize_t n = read(c, buf, sizeof buf);
			if (n <= 0) break;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(c, buf + off, n - off);
				if (w <= 0) goto done;
				off += w;
			}
		}
	done:
		close(c);
	}
}

static int dial(const struct sockaddr_in *a) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) die("socket");
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) die("connect");
	nodelay(fd);
	return fd;
}

static void round_trip(int fd, const char *msg, char *buf, int size) {
	for (int off = 0; off < size;) {
		ssize_t w = write(fd, msg + off, size - off);
		if (w <= 0) die("write");
		off += w;
	}
	for (int got = 0; got < size;) {
		ssize_t n = read(fd, buf, size - got);
		if (n <= 0) die("read");
		got += n;
	}
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
	if (argc != 8 || strcmp(argv[1], "client") || (strcmp(argv[2], "rr") && strcmp(argv[2], "crr"))) {
		fprintf(stderr, "usage: tcp_rr server PORT | tcp_rr client rr|crr HOST PORT COUNT WARMUP SIZE\n");
		return 2;
	}
	int crr = !strcmp(argv[2], "crr"), count = atoi(argv[5]), warmup = atoi(argv[6]), size = atoi(argv[7]);
	if (count <= 0 || warmup < 0 || size <= 0 || size > 65536) return 2;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
	if (inet_pton(AF_INET, argv[3], &a.sin_addr) != 1) return 2;
	char *msg = malloc(size), *buf = malloc(size);
	double *s = malloc(sizeof(double) * count);
	memset(msg, 'a', size);
	int fd = crr ? -1 : dial(&a);
	for (int i = 0; i < warmup + count; i++) {
		double t0 = now_us();
		if (crr) fd = dial(&a);
		round_trip(fd, msg, buf, size);
		double us = now_us() - t0;
		if (crr) close(fd);
		if (i >= warmup) s[i - warmup] = us;
	}
	if (!crr) close(fd);
	printf("{\"samplesUs\":[");
	for (int i = 0; i < count; i++) printf("%s%.1f", i ? "," : "", s[i]);
	printf("]}\n");
	return 0;
}
