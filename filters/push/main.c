/*
 * rx-push - not implemented yet.
 */
#include "rx.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	rx_init("rx-push");
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		rx_print_version(NULL);
	rx_diag("not implemented yet");
	return RX_EXIT_FAIL;
}
