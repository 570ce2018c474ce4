/*
 * rxpoll.h - waiting for input with a time limit (poll.c), for stages that
 * must act when their input goes quiet (rx-batch --linger).
 */
#ifndef RX_RXPOLL_H
#define RX_RXPOLL_H

#include "rx.h"

/* Wait up to timeout_ms (0: do not wait) until r holds a complete line or
 * its input has ended, reading whatever arrives meanwhile into r's
 * buffer without ever blocking past the limit.  1: rx_reader_next will
 * now return without blocking; 0: the time ran out; -1 with err on a read
 * error. */
int rx_reader_wait(rx_reader *r, int timeout_ms, char *err, size_t errlen);

/* Milliseconds on the monotonic clock. */
long long rx_now_ms(void);

#endif
