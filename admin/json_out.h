/*
 * shoal-admin's --json output: the one file behind the JSON library
 * (json-c), so that escaping is the library's and the library can be
 * replaced here alone.  Build a document with jo_obj/jo_arr and the adders,
 * then jo_print it: one line on stdout, and the document freed.  Out of
 * memory, the command stops with one line on stderr (exit status 1).
 */
#ifndef SHOAL_ADMIN_JSON_OUT_H
#define SHOAL_ADMIN_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;

struct json_object *jo_obj(void);
struct json_object *jo_arr(void);
/* Add to object o under key; with key NULL, append to array o. */
void jo_str(struct json_object *o, const char *key, const char *v);	/* NULL: "" */
void jo_u64(struct json_object *o, const char *key, uint64_t v);
void jo_bool(struct json_object *o, const char *key, bool v);
void jo_add(struct json_object *o, const char *key, struct json_object *v);	/* takes v */
/* Prints o as one line and frees it. */
void jo_print(struct json_object *o);

#endif
