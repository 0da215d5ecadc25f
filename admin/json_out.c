/* shoal-admin's --json output on json-c (json_out.h). */
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>

#include "admin.h"
#include "json_out.h"

static struct json_object *need(struct json_object *o)
{
	if (!o) {
		fprintf(stderr, "shoal-admin: out of memory\n");
		exit(AX_FAILED);
	}
	return o;
}

struct json_object *jo_obj(void)
{
	return need(json_object_new_object());
}

struct json_object *jo_arr(void)
{
	return need(json_object_new_array());
}

void jo_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (key ? json_object_object_add(o, key, need(v)) : json_object_array_add(o, need(v)))
		need(NULL);
}

void jo_str(struct json_object *o, const char *key, const char *v)
{
	jo_add(o, key, json_object_new_string(v ? v : ""));
}

void jo_u64(struct json_object *o, const char *key, uint64_t v)
{
	jo_add(o, key, json_object_new_uint64(v));
}

void jo_bool(struct json_object *o, const char *key, bool v)
{
	jo_add(o, key, json_object_new_boolean(v));
}

void jo_print(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		need(NULL);
	printf("%s\n", s);
	json_object_put(o);
}
