/* azure.c: the Azure Blob backend (not written yet: azure:// URLs are refused with a clear error). */
#include <errno.h>

#include "storage-backend.h"
#include "strutil.h"

int storage_azure_open(Storage *s, const StorageUrl *u, const StorageOptions *opt, char **ret_error) {
        *ret_error = strdup_printf("storage URL '%s': the Azure Blob backend is not available yet", u->url);
        return -EPROTONOSUPPORT;
}
