/* libFuzzer target for kh_config_load (common/config.c, with libinih).
 *
 * The input is written to an anonymous memfd and loaded through
 * /proc/self/fd/N, so nothing touches the disk. Properties:
 *  - no crash, no leak (LeakSanitizer runs at exit and on -detect_leaks);
 *  - the output contract: on success *out is set and *errmsg is NULL; on
 *    failure *out is NULL and *errmsg is a message;
 *  - a loaded config can be printed (kh_config_print) and freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"

static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((devnull = fopen("/dev/null", "we")) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_config *cfg = (struct kh_config *)&cfg; /* must be reset */
	char *err = (char *)&err, path[64];
	size_t off = 0;
	ssize_t w;
	int fd, r;

	if ((fd = memfd_create("kh-fuzz-config", MFD_CLOEXEC)) < 0) {
		perror("memfd_create");
		abort();
	}
	while (off < size) {
		if ((w = write(fd, data + off, size - off)) <= 0) {
			perror("write");
			abort();
		}
		off += (size_t)w;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = kh_config_load(path, &cfg, &err);
	if (r == KH_OK) {
		if (cfg == NULL || err != NULL) {
			fprintf(stderr, "kh_config_load: KH_OK with cfg=%p errmsg=%p\n",
			    (void *)cfg, (void *)err);
			abort();
		}
		kh_config_print(cfg, devnull);
	} else {
		if (cfg != NULL || err == NULL) {
			fprintf(stderr, "kh_config_load: %d with cfg=%p errmsg=%p\n", r,
			    (void *)cfg, (void *)err);
			abort();
		}
		(void)strlen(err); /* must be a terminated string */
	}
	kh_config_free(cfg);
	free(err);
	close(fd);
	return 0;
}
