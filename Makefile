# rx - reverse ETL as Unix filters.
#
#   make            build bin/rx-* (says which packages are missing, if any)
#   make deps       install the Debian packages the build and tests need
#   make check      run the test suite (installs missing packages first)
#   make check-asan the suite again, built with ASan and UBSan
#   make demo       a real sync into an application database, twice
#   make bench      speed and memory figures beside the usual tools
#   make install PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share
MANDIR ?= $(SHAREDIR)/man

# where objects and programs go (check-asan builds elsewhere)
BUILD ?= build
OUT ?= bin

PROGRAMS = extract diff map batch push

CFLAGS ?= -O2 -g
RX_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ifilters/lib \
	-DRX_SHARE_DEFAULT='"$(SHAREDIR)/rx"'
PKGS = libcurl sqlite3 liblz4 libpq libcrypto hiredis libmariadb
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libjq 1.6 and libcsv ship no .pc file
LIBS = $(PKG_LIBS) -ljq -lonig -lcsv -lxxhash -lm -lpthread

LIB_SRC = $(wildcard filters/lib/*.c)
LIB_OBJ = $(LIB_SRC:filters/%.c=$(BUILD)/%.o)
HEADERS = $(wildcard filters/lib/*.h filters/*/*.h)

all: depcheck $(PROGRAMS:%=$(OUT)/rx-%)

depcheck:
	@tools/deps check build

deps:
	@tools/deps install build test

$(BUILD)/%.o: filters/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(RX_CFLAGS) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/librx.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

define program
$(OUT)/rx-$(1): $$(patsubst filters/%.c,$(BUILD)/%.o,$$(wildcard filters/$(1)/*.c)) $(BUILD)/librx.a
	@mkdir -p $(OUT)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program,$(p))))

check: deps
	$(MAKE) all
	prove -j4 t/

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check-asan: deps
	$(MAKE) all BUILD=build/asan OUT=build/asan/bin CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
	RX_BIN=$(CURDIR)/build/asan/bin RX_TEST_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp prove -j2 t/

demo: deps
	$(MAKE) all
	bash examples/demo.sh

bench: deps
	@tools/deps install bench
	$(MAKE) all
	sh bench/run.sh

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR)/rx $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	for p in $(PROGRAMS); do cp $(OUT)/rx-$$p $(DESTDIR)$(BINDIR)/rx-$$p; done
	cp -R share/rx/. $(DESTDIR)$(SHAREDIR)/rx/
	for m in docs/*.1; do [ -f "$$m" ] && cp $$m $(DESTDIR)$(MANDIR)/man1/ || true; done
	for m in docs/*.7; do [ -f "$$m" ] && cp $$m $(DESTDIR)$(MANDIR)/man7/ || true; done

uninstall:
	for p in $(PROGRAMS); do rm -f $(DESTDIR)$(BINDIR)/rx-$$p $(DESTDIR)$(MANDIR)/man1/rx-$$p.1; done
	rm -f $(DESTDIR)$(MANDIR)/man7/rx.7
	rm -rf $(DESTDIR)$(SHAREDIR)/rx

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		--suppress=missingIncludeSystem -Ifilters/lib filters/

clean:
	rm -rf build $(PROGRAMS:%=$(OUT)/rx-%)

.PHONY: all depcheck deps check check-asan demo bench install uninstall lint clean
