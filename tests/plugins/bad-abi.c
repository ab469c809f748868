/* bad-abi.c: a native plugin built for another ABI version, which the loader must refuse (test-cli-plugins). */
#include <stdint.h>

#include <tern/plugin.h>

TERN_PLUGIN_EXPORT extern const uint32_t tern_plugin_abi_version;
TERN_PLUGIN_EXPORT const uint32_t tern_plugin_abi_version = TERN_PLUGIN_ABI_VERSION + 998;
TERN_PLUGIN_EXPORT int tern_plugin_run(const char *type, const char *properties_json, const TernPluginServices *services);
TERN_PLUGIN_EXPORT int tern_plugin_run(const char *type, const char *properties_json, const TernPluginServices *services) {
        return TERN_PLUGIN_FAILED;
}
