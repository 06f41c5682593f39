# tern — top-level entry points. Each target installs what it needs
# (idempotently) and builds before it runs.
#   make demo   the main job
#   make test   every test: unit + integration, normal and ASan/UBSan builds, fuzz smoke
#   make bench  benchmarks with figures (and the Xen/QEMU comparisons)
#   make fuzz   each libFuzzer target for FUZZ_SECONDS
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
export TERN_CACHE ?= $(HOME)/.cache/tern

.PHONY: all deps build build-asan build-fuzz test unit-test asan-test fuzz-smoke demo bench fuzz format tidy clean

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@[ -f $(ASAN_BUILD)/CMakeCache.txt ] || cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

build-fuzz: deps
	@[ -f $(FUZZ_BUILD)/CMakeCache.txt ] || CXX=clang++-16 CC=clang-16 cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) \
	  -DCMAKE_BUILD_TYPE=Debug -DTERN_FUZZ=ON \
	  -DCMAKE_CXX_FLAGS="-stdlib=libc++ -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	  -DCMAKE_EXE_LINKER_FLAGS="-stdlib=libc++ -fsanitize=address,undefined" >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

test: build build-asan build-fuzz
	ctest --test-dir $(BUILD) -j $(JOBS) --output-on-failure
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) -j $(JOBS) --output-on-failure
	@scripts/run-fuzzers $(FUZZ_BUILD) 10

demo: build
	@scripts/demo $(BUILD)

bench: build
	@scripts/run-benchmarks $(BUILD)

fuzz: build-fuzz
	@scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

# clang-tidy 16 with libc++ (as the fuzz build: Debian's clang cannot parse
# libstdc++ 12's <expected>); the tidy build dir is only configured, never built.
TIDY_BUILD ?= build-tidy
tidy: deps
	@[ -f $(TIDY_BUILD)/compile_commands.json ] || CXX=clang++-16 CC=clang-16 cmake -S . -B $(TIDY_BUILD) $(CMAKE_GEN) \
	  -DCMAKE_CXX_FLAGS="-stdlib=libc++" >/dev/null
	git ls-files 'src/*.cpp' | xargs clang-tidy-16 -p $(TIDY_BUILD) --quiet

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TIDY_BUILD)
