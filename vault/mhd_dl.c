/* see mhd_dl.h */
#include "mhd_dl.h"

#include <pthread.h>
#include <string.h>

#include "dlib.h"

/* In the order of struct atr_mhd's members. */
static const char *const names[] = {
	"MHD_start_daemon", "MHD_stop_daemon",
	"MHD_lookup_connection_value", "MHD_queue_response",
	"MHD_create_response_from_buffer",
	"MHD_create_response_from_buffer_with_free_callback_cls",
	"MHD_destroy_response", "MHD_add_response_header",
	"MHD_get_daemon_info", "MHD_get_connection_info",
	"MHD_is_feature_supported", "MHD_set_connection_option",
};
#define NFN (sizeof(names) / sizeof(names[0]))

static struct atr_mhd loaded;
static int ok;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	void *slot[NFN];

	if (atr_dlib_open("ATREST_LIBMICROHTTPD", "libmicrohttpd.so.12",
	    names, slot, NFN, why, sizeof(why)) == NULL)
		return;
	ATR_DLIB_FN(loaded.start_daemon, slot[0]);
	ATR_DLIB_FN(loaded.stop_daemon, slot[1]);
	ATR_DLIB_FN(loaded.lookup_connection_value, slot[2]);
	ATR_DLIB_FN(loaded.queue_response, slot[3]);
	ATR_DLIB_FN(loaded.create_response_from_buffer, slot[4]);
	ATR_DLIB_FN(loaded.create_response_from_buffer_with_free_callback_cls,
	    slot[5]);
	ATR_DLIB_FN(loaded.destroy_response, slot[6]);
	ATR_DLIB_FN(loaded.add_response_header, slot[7]);
	ATR_DLIB_FN(loaded.get_daemon_info, slot[8]);
	ATR_DLIB_FN(loaded.get_connection_info, slot[9]);
	ATR_DLIB_FN(loaded.is_feature_supported, slot[10]);
	ATR_DLIB_FN(loaded.set_connection_option, slot[11]);
	ok = 1;
}

enum atr_err
atr_mhd_load(void)
{
	pthread_once(&once, load);
	return ok ? ATR_OK : atr_fail(ATR_ERR_CONFIG,
	    "cannot load libmicrohttpd: %s", why);
}

const struct atr_mhd *
atr_mhd(void)
{
	return &loaded;
}
