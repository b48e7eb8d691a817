// Module entry of cgtrain_cpu.node and cgtrain_cuda.node: the object typed in
// src/backend/binding.ts, assembled from one register function per kernel family.
#include "glue.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  glue::register_runtime(exports);
  glue::register_elementwise(exports);
  glue::register_layout(exports);
  glue::register_conv(exports);
  glue::register_norm(exports);
  glue::register_pool_loss(exports);
  glue::register_optim(exports);
  glue::register_host(exports);
  (void)env;
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
