/*
 * postgres.c - rx-extract's PostgreSQL source: not implemented yet.
 */
#include "extract.h"

int rx_extract_postgres(const extract_options *o, rx_writer *out)
{
	(void)o;
	(void)out;
	rx_diag("--postgres: not implemented yet");
	return RX_EXIT_FAIL;
}
