/* HTML pages. Every dynamic value goes through kh_buf_append_html (the one
 * escaping function); pages load only /static/kakehashi.css from this server. */
#ifndef KH_PAGE_H
#define KH_PAGE_H

#include "idp/http.h"
#include "idp/i18n.h"

/* Starts a page: doctype, <head>, header with site name and language switch. */
void kh_page_begin(struct kh_req *req, struct kh_resp *resp, enum kh_msg title);
void kh_page_end(struct kh_req *req, struct kh_resp *resp);
/* Appends escaped text. */
void kh_page_text(struct kh_resp *resp, const char *text);
/* Appends trusted markup (literals only). */
void kh_page_raw(struct kh_resp *resp, const char *html);
/* <p id="helpdesk"> with [login] helpdesk, when configured. */
void kh_page_helpdesk(struct kh_req *req, struct kh_resp *resp);
/* <p class="ref"> with the request's reference id (grep rid= in the log). */
void kh_page_reference(struct kh_req *req, struct kh_resp *resp);
/* <input type="hidden" name=NAME value=VALUE> (escaped). */
void kh_page_hidden(struct kh_resp *resp, const char *name, const char *value);
/* A full error page with the request's reference id. */
void kh_page_error(
    struct kh_req *req, struct kh_resp *resp, int status, enum kh_msg title, enum kh_msg body);

#endif
