/*
 * catena EAL housekeeping shared by the DPDK programs (catena-node,
 * catena-bench): removing the runtime directory EAL leaves behind.
 * Control path only, after rte_eal_cleanup.
 */
#ifndef CAT_EAL_DIR_H
#define CAT_EAL_DIR_H

/**
 * Remove EAL's runtime directory of our prefix (/var/run/dpdk/PREFIX:
 * config, fbarray_*, hugepage_info, sockets), which rte_eal_cleanup leaves
 * behind: plain files and sockets directly inside it, then the directory
 * if empty. "" does nothing. Errors are ignored: it is tidying up.
 */
void cat_eal_remove_runtime_dir(const char *dir);

#endif /* CAT_EAL_DIR_H */
