# Membrane — build, run, test. `make run` and `make test` set up everything
# they need first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/node/bin:$(PATH)

# bpf/*.c are Membrane's programs; bpf/test/*.c are small programs that only
# the datapath library's tests load.
BPF_SRC := $(wildcard bpf/*.c bpf/test/*.c)
BPF_OBJ := $(patsubst bpf/%.c,build/bpf/%.o,$(BPF_SRC))
BPF_HDR := $(wildcard bpf/include/*.h)
CLANG ?= clang
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I bpf/include -I /usr/include/$(shell uname -m)-linux-gnu

.PHONY: all setup build bpf ts run test test-unit test-integration bench clean

all: build

setup:
	@bash scripts/setup.sh

build: bpf ts

bpf: $(BPF_OBJ)

build/bpf/%.o: bpf/%.c $(BPF_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

ts:
	npx tsc -p tsconfig.json

# The main job: an agent with a sandbox of pods and live traffic, until Ctrl-C.
run: setup
	bin/membrane sandbox run

# The whole suite: type-check, unit tests, then the privileged integration tests.
test: setup
	npx tsc -p tsconfig.check.json
	node --test --test-reporter=spec 'src/**/*.test.ts'
	node --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 'test/**/*.test.ts'

test-unit:
	node --test 'src/**/*.test.ts'

test-integration:
	node --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 'test/**/*.test.ts'

bench: setup
	bash bench/run.sh

clean:
	rm -rf build dist
