/* Delayed responses without blocking a worker thread: a suspended MHD
 * connection is resumed by the scheduler thread when its time comes (used
 * for the login failure delay). */
#ifndef KH_DELAY_H
#define KH_DELAY_H

#include <stdint.h>

struct kh_delay;

int kh_delay_new(void **out);
/* conn is a suspended struct MHD_Connection; at_ms is kh_now_ms() time. */
void kh_delay_schedule(void *d, void *conn, int64_t at_ms);
/* Resumes everything still waiting, stops the thread and frees. */
void kh_delay_free(void *d);

#endif
