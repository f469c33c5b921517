/*
 * vault_fedtoken.h - `atrest vault federated-token` (docs/VAULT.md).
 */
#ifndef ATR_CLI_VAULT_FEDTOKEN_H
#define ATR_CLI_VAULT_FEDTOKEN_H

/* argv[0] is "federated-token".  Returns the exit code. */
int vault_fedtoken_main(int argc, char **argv);

#endif
