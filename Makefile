# vmlab: developer VM labs on Vagrant + vagrant-libvirt (QEMU/KVM). Start with: make help
#
# Every target is one line that calls the TypeScript CLI (bin/vmlab). User values (NAME, CMD, IMAGE, ...)
# reach the CLI through the environment, unexpanded, never through a recipe's shell text: a NAME such as
# 'x; rm -rf ~' arrives as one literal word and is refused by the CLI's name check. They are read with
# $(value ..) only (make would run a $(shell ..) inside them on any other reference), are not exported
# themselves (exporting expands them too), and reach the CLI as --option="value", so that a value that
# starts with '-' (NAME=--force) stays a value.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.SUFFIXES:
MAKEFLAGS += --no-print-directory

ROLES := $(sort $(patsubst roles/%.yaml,%,$(wildcard roles/*.yaml)))

export VMLAB_NAME := $(value NAME)
export VMLAB_IMAGE := $(value IMAGE)
export VMLAB_CPUS := $(value CPUS)
export VMLAB_MEMORY := $(value MEMORY)
export VMLAB_DISK := $(value DISK)
export VMLAB_CMD := $(value CMD)
export VMLAB_ROLE_ARG := $(value ROLE)
export VMLAB_JOB := $(value JOB)
export VMLAB_TARGET := $(value TARGET)
export VMLAB_FILE := $(value FILE)
export VMLAB_SOURCE := $(value SOURCE)
export VMLAB_SNAP := $(value SNAP)
export VMLAB_ACTION := $(value ACTION)
export VMLAB_GROUP := $(value GROUP)
export VMLAB_COUNT := $(value COUNT)
export VMLAB_NAMES := $(value NAMES)
export VMLAB_SUBNET := $(value SUBNET)
export VMLAB_DRIVER := $(value DRIVER)
export VMLAB_HOST := $(value HOST)
export VMLAB_SRC := $(value SRC)
export VMLAB_DST := $(value DST)
unexport NAME IMAGE CPUS MEMORY DISK CMD ROLE JOB TARGET FILE SOURCE SNAP ACTION GROUP COUNT NAMES SUBNET DRIVER HOST SRC DST \
         DRY_RUN JSON YES QUIET VERBOSE FORCE BG TREE AUTO_BUILD

# $(call on,SWITCH,--flag): --flag when the variable SWITCH is 1, yes or true.
on = $(if $(filter 1 yes true,$(value $(1))),$(2))
FLAGS = $(call on,DRY_RUN,--dry-run) $(call on,JSON,--json) $(call on,YES,--yes) \
        $(call on,QUIET,--quiet) $(call on,VERBOSE,--verbose)
# The make targets set the host up when it is not ready (VMLAB_AUTO_SETUP=0 turns that off).
SETUP_FLAG = $(if $(filter 0 no false,$(value VMLAB_AUTO_SETUP)),,--setup)
# AUTO_BUILD=0: do not build a missing role image; boot its nearest built ancestor and provision instead.
BUILD_FLAG = $(if $(filter 0 no false,$(value AUTO_BUILD)),--no-auto-build)
# FORCE=1: start VMs even beyond the host's limits (resource admission).
FORCE_FLAG = $(call on,FORCE,--force)
VMLAB = node bin/vmlab $(FLAGS)

# The CLI is built on demand: `make <anything>` works straight after a clone.
SOURCES := $(shell find src -name '*.ts' 2>/dev/null)
CLI := dist/.built

# `npm install --no-save` installs the locked versions without rewriting the lockfile; `npm ci` would be the
# usual choice, but it refuses a lockfile whose optional per-platform packages the registry did not list.
node_modules/.installed: package.json package-lock.json
	@echo "vmlab: installing dependencies" >&2
	@npm install --no-save --no-audit --no-fund --loglevel=error >&2
	@touch $@

# One bundle (scripts/build-cli.mjs): start-up reads a few files instead of hundreds. make lint type-checks.
$(CLI): node_modules/.installed scripts/build-cli.mjs $(SOURCES)
	@echo "vmlab: building the CLI" >&2
	@rm -rf dist && node scripts/build-cli.mjs
	@touch $@

##@ Machines
# One explicit target per role (create-base, create-docker, ...), so that make's own tab completion and
# make help list them; the pattern rule below them takes any other create-<x>, which the CLI refuses by name.
CREATE_ROLE = @$(VMLAB) create --role="$$VMLAB_ROLE" $(SETUP_FLAG) $(BUILD_FLAG) $(FORCE_FLAG) --name="$$VMLAB_NAME" --image="$$VMLAB_IMAGE" --cpus="$$VMLAB_CPUS" --memory="$$VMLAB_MEMORY" --disk="$$VMLAB_DISK" --host="$$VMLAB_HOST"
create-%: export VMLAB_ROLE = $*
$(addprefix create-,$(ROLES)): create-%: $(CLI)
	$(CREATE_ROLE)
create-%: $(CLI) ## create-<role> [NAME= IMAGE= CPUS= MEMORY= DISK= HOST= AUTO_BUILD=0]: declare and boot a VM of a role
	$(CREATE_ROLE)

dev-vm: $(CLI) ## a base VM called dev
	@$(VMLAB) create --role=base $(SETUP_FLAG) $(BUILD_FLAG) $(FORCE_FLAG) --name="$${VMLAB_NAME:-dev}"

web-vm: $(CLI) ## a docker VM called web
	@$(VMLAB) create --role=docker $(SETUP_FLAG) $(BUILD_FLAG) $(FORCE_FLAG) --name="$${VMLAB_NAME:-web}"

start: $(CLI) ## start NAME=.. [FORCE=1]: boot a declared machine (create it if it has no VM)
	@$(VMLAB) start --name="$$VMLAB_NAME" $(FORCE_FLAG)

stop: $(CLI) ## stop NAME=..: shut a machine down
	@$(VMLAB) stop --name="$$VMLAB_NAME"

ssh: $(CLI) ## ssh NAME=.. [CMD='..']: a shell, or run CMD and fail if it fails
	@$(VMLAB) ssh --name="$$VMLAB_NAME" --cmd="$$VMLAB_CMD"

cp: $(CLI) ## cp SRC=web:/path DST=./dir (or the other way): copy files or directories with a running machine
	@$(VMLAB) cp --source="$$VMLAB_SRC" --destination="$$VMLAB_DST"

console: $(CLI) ## console NAME=..: the machine's serial console (Ctrl+] leaves it)
	@$(VMLAB) console --name="$$VMLAB_NAME"

suspend: $(CLI) ## suspend NAME=..[,..]|GROUP=..: save running machines with their memory to disk (list: saved)
	@$(VMLAB) suspend --name="$$VMLAB_NAME" --group="$$VMLAB_GROUP"

resume: $(CLI) ## resume NAME=..[,..]|GROUP=.. [FORCE=1]: bring saved machines back where they were (make up does too)
	@$(VMLAB) resume --name="$$VMLAB_NAME" --group="$$VMLAB_GROUP" $(FORCE_FLAG)

delete: $(CLI) ## delete NAME=.. [YES=1]: destroy a machine, its disk and its lab.yaml entry
	@$(VMLAB) delete --name="$$VMLAB_NAME"

list: $(CLI) ## the lab's machines: state, IP, cpus, memory (JSON=1)
	@$(VMLAB) list

render: $(CLI) ## write the Vagrantfile from lab.yaml and roles/
	@$(VMLAB) render

roles: $(CLI) ## the roles and their defaults (JSON=1)
	@$(VMLAB) roles

clone: $(CLI) ## clone SOURCE=.. TARGET=..: a new machine from another's current disk, with its own identity
	@$(VMLAB) clone --source="$$VMLAB_SOURCE" --target="$$VMLAB_TARGET" $(FORCE_FLAG)

check: $(CLI) ## check NAME=..[,..]|GROUP=..: run the roles' health checks in running machines (JSON=1)
	@$(VMLAB) check --name="$$VMLAB_NAME" --group="$$VMLAB_GROUP"

##@ Labs
up: $(CLI) ## up [GROUP=..] [FORCE=1]: bring the lab (or a group) to lab.yaml, machines side by side
	@$(VMLAB) up --group="$$VMLAB_GROUP" $(SETUP_FLAG) $(FORCE_FLAG)

plan: $(CLI) ## plan [GROUP=..]: what make up would do, per machine; changes nothing (JSON=1)
	@$(VMLAB) plan --group="$$VMLAB_GROUP"

down: $(CLI) ## down [GROUP=..]: halt the lab's (or a group's) running machines side by side
	@$(VMLAB) down --group="$$VMLAB_GROUP"

destroy: $(CLI) ## destroy GROUP=.. YES=1: destroy a group's VMs; they stay declared in lab.yaml
	@$(VMLAB) destroy --group="$$VMLAB_GROUP"

create-group: $(CLI) ## create-group GROUP=.. ROLE=.. COUNT=n|NAMES=a,b [SUBNET=] [CPUS= MEMORY= DISK=]: declare a group and bring it up
	@$(VMLAB) create-group --group="$$VMLAB_GROUP" --role="$$VMLAB_ROLE_ARG" --count="$$VMLAB_COUNT" --names="$$VMLAB_NAMES" --subnet="$$VMLAB_SUBNET" --image="$$VMLAB_IMAGE" --cpus="$$VMLAB_CPUS" --memory="$$VMLAB_MEMORY" --disk="$$VMLAB_DISK" $(SETUP_FLAG) $(FORCE_FLAG)

create-k8s-cluster: $(CLI) ## a Kubernetes control plane and two workers (role k8s, group k8s, own network)
	@$(VMLAB) create-group --group="$${VMLAB_GROUP:-k8s}" --role=k8s --names="$${VMLAB_NAMES:-k8s-cp,k8s-w1,k8s-w2}" --subnet="$$VMLAB_SUBNET" --cpus="$$VMLAB_CPUS" --memory="$$VMLAB_MEMORY" $(SETUP_FLAG) $(FORCE_FLAG)

hosts: $(CLI) ## the lab's libvirt hosts (hosts: in lab.yaml): reachability, driver, cores, memory, pool free, use (JSON=1)
	@$(VMLAB) hosts

resources: $(CLI) ## who uses what on this host (running VMs) against the limits VMs are admitted by (JSON=1)
	@$(VMLAB) resources

# --opt="value": a value that starts with '-' (SNAP=--force) stays a value, not an option of the CLI.
snapshot: $(CLI) ## snapshot NAME=..[,..]|GROUP=.. ACTION=create|list|restore|delete [SNAP=..] [YES=1]: VM snapshots
	@$(VMLAB) snapshot --action="$$VMLAB_ACTION" --name="$$VMLAB_NAME" --group="$$VMLAB_GROUP" --snap="$$VMLAB_SNAP"

graph: $(CLI) ## graph [FILE=lab.svg]: draw the lab (machines, groups, networks, addresses, images) with graphviz
	@$(VMLAB) graph --file="$$VMLAB_FILE"

##@ Images
build: $(CLI) ## build IMAGE=..|ROLE=.. [FORCE=1] [BG=1]: build an image and its parents through the queue
	@$(VMLAB) build --image="$$VMLAB_IMAGE" --role="$$VMLAB_ROLE_ARG" $(call on,FORCE,--force) $(call on,BG,--background)

queue: $(CLI) ## the build queue: step, percent, ETA of every job (JSON=1)
	@$(VMLAB) queue

queue-log: $(CLI) ## queue-log JOB=..: a build job's log
	@$(VMLAB) queue-log --job="$$VMLAB_JOB"

queue-cancel: $(CLI) ## queue-cancel JOB=..: cancel a queued or running build
	@$(VMLAB) queue-cancel --job="$$VMLAB_JOB"

images: $(CLI) ## the image registry: kind, parent, size, age (JSON=1; TREE=1: the lineage as a tree)
	@$(VMLAB) images $(call on,TREE,--tree)

image-rm: $(CLI) ## image-rm IMAGE=.. [YES=1]: remove an image, its box and pool volumes
	@$(VMLAB) image-rm --image="$$VMLAB_IMAGE"

export: $(CLI) ## export NAME=.. TARGET=.. [FILE=x.box] [FORCE=1]: a machine's disk as a new image (identity removed)
	@$(VMLAB) export --name="$$VMLAB_NAME" --target="$$VMLAB_TARGET" --file="$$VMLAB_FILE" $(call on,FORCE,--force)

image-import: $(CLI) ## image-import FILE=x.box TARGET=.. [FORCE=1]: register a libvirt box from elsewhere
	@$(VMLAB) image-import --file="$$VMLAB_FILE" --target="$$VMLAB_TARGET" $(call on,FORCE,--force)

images-verify: $(CLI) ## checksums, qemu-img check, boxes and pool volumes; orphans
	@$(VMLAB) images-verify

gc: $(CLI) ## list what vmlab made that nothing uses (unclaimed boxes, volumes, dead jobs' folders); YES=1 removes it
	@$(VMLAB) gc

##@ Host
setup: $(CLI) ## install packages, start libvirtd, create the pool, probe KVM (idempotent)
	@$(VMLAB) setup

doctor: $(CLI) ## doctor [HOST=..]: check every prerequisite (of this host, or of a host in lab.yaml), with the fix for each (JSON=1)
	@$(VMLAB) doctor --host="$$VMLAB_HOST"

##@ Development
cli: $(CLI) ## install dependencies and build the CLI

test: $(CLI) lint ## all tests: pure, CLI against fake tools, real VMs where the host is set up
	@node_modules/.bin/vitest run

bench: $(CLI) ## speed against the raw tools on real VMs (about 10 min); writes test/bench/results.json and the README table
	@node_modules/.bin/vite-node test/bench/bench.ts

lint: node_modules/.installed ## type-check and shellcheck the scripts
	@node_modules/.bin/tsc -p tsconfig.json --noEmit
	@node_modules/.bin/tsc -p tsconfig.test.json
	@if command -v shellcheck >/dev/null; then shellcheck -x scripts/features/*.sh scripts/features/lib/*.sh scripts/lab/*.sh scripts/image/*.sh scripts/image/lib/*.sh scripts/image/guest/vmlab-identity scripts/image/guest/vmlab-growroot; \
	 else echo '*** shellcheck not installed: scripts not checked (apt-get install shellcheck) ***' >&2; fi

clean: ## remove the built CLI (not your lab, not your images)
	@rm -rf dist

help: ## this list, with the variables that apply
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^create-%:.*## / {print "  create-<role> [NAME= IMAGE= CPUS= MEMORY= DISK= AUTO_BUILD=0]: declare and boot a VM of a role:"; system("$(MAKE) -s help-roles"); next} /^[a-z0-9%-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))
	@printf '\nVariables:\n'
	@printf '  %-18s %s\n' 'QUIET=1' 'only results and errors (the targets that change machines or images)' \
	  'VERBOSE=1' "stream vagrant's, apt's and the builders' own output (otherwise only in .vmlab/logs/)" \
	  'DRY_RUN=1' 'print the commands that would change something; change nothing' \
	  'JSON=1' 'machine-readable output (the listings marked JSON=1)' \
	  'YES=1' 'no confirmation (delete, destroy, image-rm, gc)' \
	  'DRIVER=kvm|qemu' 'force the hypervisor (default: KVM when it works)'

help-roles:
	@for role in $(ROLES); do printf '  %-18s %s\n' "create-$$role" "$$(sed -n 's/^description: //p' "roles/$$role.yaml")"; done

.PHONY: help-roles $(addprefix create-,$(ROLES)) graph dev-vm web-vm start stop ssh cp console suspend resume delete list render roles clone check up plan down destroy create-group create-k8s-cluster hosts resources snapshot export image-import build queue queue-log queue-cancel images image-rm images-verify gc setup doctor cli test bench lint clean help
