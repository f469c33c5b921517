/*
 * kv_cred_cli.h - the Azure CLI credential: a token from the user's or
 * the CI runner's `az login`, as Azure Identity's AzureCliCredential
 * gets it.
 *
 * The program is run without a shell ("az account get-access-token
 * --output json --scope SCOPE [--tenant T]"), with stdin on /dev/null,
 * the working directory "/", stdout and stderr bounded, and a timeout
 * after which its whole process group is killed and reaped.  An az too
 * old for --scope (before 2.23) is asked again with --resource.
 *
 * Environment:
 *   ATREST_AZ_PATH        the program to run (default: "az" on PATH)
 *   ATREST_AZ_TIMEOUT_MS  the timeout in milliseconds (default 10000)
 *
 * Sources:
 *   az account get-access-token
 *     https://learn.microsoft.com/en-us/cli/azure/account#az-account-get-access-token
 *   AzureCliCredential
 *     https://learn.microsoft.com/en-us/dotnet/api/azure.identity.azureclicredential
 */
#ifndef ATR_KV_CRED_CLI_H
#define ATR_KV_CRED_CLI_H

#include <stdint.h>

#include "err.h"

/* A token from `az account get-access-token`; token is malloc'd and
 * wiped by kv_cli_token_free.  expires_on: POSIX seconds, 0 if unknown. */
struct kv_cli_token {
	char *token;
	int64_t expires_on;
};

/* scope: "https://vault.azure.net/.default" (the resource is derived
 * from it for CLIs that only take --resource); tenant may be NULL.
 * ATR_OK; ATR_ERR_NOT_FOUND when the credential is unavailable (az not
 * on PATH, not logged in) so a chain moves on; any other error when it
 * is configured and failed (timeout, bad output, az error).  Never
 * prints; the detail (atr_detail) is one line without any token, and
 * starts with "AzureCliCredential: ". */
enum atr_err kv_cli_get_token(const char *scope, const char *tenant,
    struct kv_cli_token *out);
void kv_cli_token_free(struct kv_cli_token *t);

#endif
