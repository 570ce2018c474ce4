/*
 * blockq.c - a ring of buffers passed from one thread to another.
 *
 * One producer fills a block and pushes it; one consumer reads it and
 * releases it; BLOCKQ_BLOCKS of them, so memory is fixed and each side
 * waits only when the other is a whole ring behind.  The producer closes
 * the queue after its last block; either side may stop it, after which
 * neither waits any more (blockq_write and blockq_read return NULL).
 * feed.c (a thread produces, the merge consumes) and stager.c (the merge
 * produces, a thread consumes) are built on it.
 */
#include "stage.h"

void rx_diff_blockq_init(blockq *q)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

void rx_diff_blockq_free(blockq *q)
{
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	for (size_t i = 0; i < BLOCKQ_BLOCKS; i++)
		rx_buf_free(&q->blk[i]);
	memset(q, 0, sizeof *q);
}

rx_buf *rx_diff_blockq_write(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->full[q->wr] && !q->stopped)
		pthread_cond_wait(&q->cv, &q->mu);
	int stopped = q->stopped;
	pthread_mutex_unlock(&q->mu);
	if (stopped)
		return NULL;
	rx_buf_reset(&q->blk[q->wr]);
	return &q->blk[q->wr];
}

void rx_diff_blockq_push(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->full[q->wr] = 1;
	q->wr = (q->wr + 1) % BLOCKQ_BLOCKS;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void rx_diff_blockq_close(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void rx_diff_blockq_stop(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->stopped = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

const rx_buf *rx_diff_blockq_read(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	while (!q->full[q->rd] && !q->closed && !q->stopped)
		pthread_cond_wait(&q->cv, &q->mu);
	int have = q->full[q->rd] && !q->stopped;
	pthread_mutex_unlock(&q->mu);
	return have ? &q->blk[q->rd] : NULL;
}

void rx_diff_blockq_release(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->full[q->rd] = 0;
	q->rd = (q->rd + 1) % BLOCKQ_BLOCKS;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}
