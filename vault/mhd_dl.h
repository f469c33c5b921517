/*
 * mhd_dl.h - the libmicrohttpd functions `atrest vault serve` calls,
 * opened on first use (core/dlib.h says why it is not linked).
 *
 * Each member has the library's own prototype, variadic ones included,
 * so a call through it is the call the library expects (ISO C 6.5.2.2).
 * A function the server starts to use must be added here, or it does not
 * compile: nothing else in atrest may call MHD_* directly.
 */
#ifndef ATR_MHD_DL_H
#define ATR_MHD_DL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "err.h"

struct atr_mhd {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
	    MHD_AcceptPolicyCallback apc, void *apc_cls,
	    MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *d);
	const char *(*lookup_connection_value)(struct MHD_Connection *c,
	    enum MHD_ValueKind kind, const char *key);
	enum MHD_Result (*queue_response)(struct MHD_Connection *c,
	    unsigned int status, struct MHD_Response *r);
	struct MHD_Response *(*create_response_from_buffer)(size_t size,
	    void *buf, enum MHD_ResponseMemoryMode mode);
	struct MHD_Response *(*create_response_from_buffer_with_free_callback_cls)(
	    size_t size, void *buf, MHD_ContentReaderFreeCallback crfc,
	    void *crfc_cls);
	void (*destroy_response)(struct MHD_Response *r);
	enum MHD_Result (*add_response_header)(struct MHD_Response *r,
	    const char *name, const char *value);
	const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *d,
	    enum MHD_DaemonInfoType t, ...);
	const union MHD_ConnectionInfo *(*get_connection_info)(
	    struct MHD_Connection *c, enum MHD_ConnectionInfoType t, ...);
	enum MHD_Result (*is_feature_supported)(enum MHD_FEATURE feature);
	enum MHD_Result (*set_connection_option)(struct MHD_Connection *c,
	    enum MHD_CONNECTION_OPTION option, ...);
};

/*
 * Loads libmicrohttpd once (ATREST_LIBMICROHTTPD may name another file):
 * ATR_OK, or ATR_ERR_CONFIG with the loader's reason.
 */
enum atr_err atr_mhd_load(void);

/* The table (static); valid only after atr_mhd_load() returned ATR_OK:
 * the server loads the library before anything else. */
const struct atr_mhd *atr_mhd(void);

#endif
