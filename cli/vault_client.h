/* vault_client.h - the Key Vault client subcommands of "atrest vault". */
#ifndef ATR_VAULT_CLIENT_H
#define ATR_VAULT_CLIENT_H

/*
 * "atrest vault create|get|disable|enable|update|rotate|versions|delete|
 * recover|purge ...": argv[0] is the subcommand.  Returns the exit code.
 */
int vault_client_main(int argc, char **argv);

/* atrest vault rotation-policy get|set (cli/vault_rotation.c); argv[0]
 * is "rotation-policy". */
int vault_rotation_main(int argc, char **argv);

#endif
