#include "http.h"
int rx_extract_databricks(const extract_options *o, rx_writer *out) { (void)o; (void)out; rx_diag("Databricks: not yet"); return 1; }
