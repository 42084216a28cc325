# Gatehouse's native code, built by node-gyp against the local Node headers
# (scripts/lib/env.sh sets npm_config_nodedir; there is no internet here).
#
# gatehouse_acceptor: accepts TLS connections and peeks at the ClientHello
#   before handing the fd to uWS or Node (src/acceptor.c, src/clienthello.c;
#   its Node-API surface in src/addon.c).
# gatehouse_glibc_compat: C23 strtol/strtoul/sscanf under GLIBC_2.38 so that
#   the uWS.js binary loads on glibc 2.36 (Linux only).
{
  'target_defaults': {
    'cflags_c': [
      '-std=gnu11',
      '-Wall',
      '-Wextra',
      '-Wshadow',
      '-Wstrict-prototypes',
      '-Wpointer-arith',
      '-fvisibility=hidden',
    ],
    'defines': ['NAPI_VERSION=8'],
  },
  'targets': [
    {
      'target_name': 'gatehouse_acceptor',
      'sources': ['src/acceptor.c', 'src/addon.c', 'src/clienthello.c'],
    },
    {
      'target_name': 'gatehouse_glibc_compat',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['src/glibc_compat.c'],
          'ldflags': [
            '-Wl,--version-script=<(module_root_dir)/src/glibc_compat.map',
          ],
        }],
      ],
    },
  ],
}
