/* The stdin command loop shared by the test probes (kv_probe, session_probe):
 * one command a line, words split on blanks, "quit" ends; a line the probe
 * rejects is reported as {"rc":...,"error":"usage"} so the shell stays up. */
#ifndef KH_PROBE_SHELL_H
#define KH_PROBE_SHELL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

#define PROBE_MAX_ARGS 8

static int
probe_shell(int (*run)(int, char **), size_t line_max)
{
	char *line, *argv[PROBE_MAX_ARGS], *p, *save = NULL;
	int argc;

	if ((line = malloc(line_max)) == NULL)
		return -1;
	while (fgets(line, (int)line_max, stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		argc = 0;
		for (p = strtok_r(line, " \t", &save); p != NULL && argc < PROBE_MAX_ARGS;
		     p = strtok_r(NULL, " \t", &save))
			argv[argc++] = p;
		if (argc == 0)
			continue;
		if (strcmp(argv[0], "quit") == 0)
			break;
		if (run(argc, argv) != 0) {
			printf("{\"rc\":%d,\"error\":\"usage\"}\n", KH_ERR_INVALID);
			fflush(stdout);
		}
	}
	free(line);
	return 0;
}

#endif
