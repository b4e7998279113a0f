# deeplens: two commands do all the set-up on a fresh Debian/Ubuntu machine.
#   make demo   installs what is missing, builds in release mode, converts the shipped sample
#   make test   installs what is missing and runs the tests
.PHONY: demo test setup ort build bench models clean

CARGO ?= cargo
DEMO_OUT ?= out/bigbuckbunny-dof.mp4

setup:
	scripts/setup.sh all

ort:
	scripts/setup.sh ort

build: setup
	$(CARGO) build --release

demo: build
	@mkdir -p out
	./target/release/deeplens convert samples/bigbuckbunny.mp4 $(DEMO_OUT) -y --focus-at 0.5,0.55 --max-blur 2.5%
	@echo "wrote $(DEMO_OUT)"

test: setup
	$(CARGO) test --all-targets

bench: build
	./target/release/deeplens bench
	$(CARGO) bench

models:
	models/training/reproduce.sh depth
	models/training/reproduce.sh lens

clean:
	rm -rf out
