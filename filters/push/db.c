/*
 * db.c - the list of rx-push's database drivers (db.h), by name.
 */
#include "db.h"

#include <string.h>

const rx_db_driver *rx_db_find(const char *name)
{
	static const rx_db_driver *const drivers[] = {&rx_db_sqlite, &rx_db_postgres, &rx_db_mysql, &rx_db_redis};

	for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
		if (name != NULL && strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}
