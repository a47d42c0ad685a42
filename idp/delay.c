#include "idp/delay.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"

struct delayed {
	struct MHD_Connection *conn;
	int64_t at_ms;
	struct delayed *next;
};

struct kh_delay {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct delayed *head; /* sorted by at_ms */
	struct delayed *tail; /* most delays are equal: appending is the common case */
	int stopping;
};

static void *
delay_main(void *arg)
{
	struct kh_delay *d = arg;
	struct delayed *due;
	struct timespec ts;
	int64_t now, wait_ms;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		now = kh_now_ms();
		while (d->head != NULL && d->head->at_ms <= now) {
			due = d->head;
			d->head = due->next;
			if (d->head == NULL)
				d->tail = NULL;
			MHD_resume_connection(due->conn);
			free(due);
		}
		if (d->head == NULL) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		wait_ms = d->head->at_ms - now;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	d->tail = NULL;
	while ((due = d->head) != NULL) {
		d->head = due->next;
		MHD_resume_connection(due->conn);
		free(due);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int
kh_delay_new(void **out)
{
	struct kh_delay *d;
	pthread_condattr_t ca;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return KH_ERR_NOMEM;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, delay_main, d) != 0) {
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return KH_ERR_INTERNAL;
	}
	*out = d;
	return KH_OK;
}

void
kh_delay_schedule(void *dp, void *conn, int64_t at_ms)
{
	struct kh_delay *d = dp;
	struct delayed *n, **pp;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		/* No memory to wait: answer now rather than never. */
		MHD_resume_connection(conn);
		return;
	}
	n->conn = conn;
	n->at_ms = at_ms;
	pthread_mutex_lock(&d->lock);
	if (d->tail != NULL && d->tail->at_ms <= at_ms) {
		d->tail->next = n;
		d->tail = n;
	} else {
		for (pp = &d->head; *pp != NULL && (*pp)->at_ms <= at_ms; pp = &(*pp)->next)
			;
		n->next = *pp;
		*pp = n;
		if (n->next == NULL)
			d->tail = n;
	}
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void
kh_delay_free(void *dp)
{
	struct kh_delay *d = dp;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
