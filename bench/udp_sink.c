// UDP sink for the services benchmark's NodePort packet-rate test. Built by
// bench/services.ts with the machine's C compiler into bench/out/.
//
//   udp_sink PORT
//       binds 0.0.0.0:PORT, prints "ready", then sleeps and never reads:
//       datagrams are delivered to the socket until its buffer is full and
//       dropped after that, without any userspace work and without an ICMP
//       port-unreachable per packet (what an unbound port would send). The
//       benchmark counts what reached the backend from kernel counters.
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: udp_sink PORT\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("udp_sink");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
