#include "http.h"
int rx_extract_bigquery(const extract_options *o, rx_writer *out) { (void)o; (void)out; rx_diag("BigQuery: not yet"); return 1; }
