// Binding of the fused multi-tensor Adam step: four parallel arrays of buffers become four
// pointer arrays and one size array, checked pairwise so a mismatched list names its entry.
#include <vector>

#include "glue.h"

namespace glue {
namespace {

std::vector<BufData*> read_list(Args& a, size_t i, const char* name) {
  Napi::Value v = a.arg(i);
  if (!v.IsArray()) a.fail(std::string(name) + " must be an array of buffers");
  Napi::Array list = v.As<Napi::Array>();
  std::vector<BufData*> out;
  out.reserve(list.Length());
  for (uint32_t k = 0; k < list.Length(); k++) {
    Napi::Value item = list.Get(k);
    std::string label = std::string(name) + "[" + std::to_string(k) + "]";
    // Args reads positional arguments; wrap the element so buf() can check it the same way.
    out.push_back(&a.buf_value(item, label.c_str()));
  }
  return out;
}

// adamStep(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value adam_step(Args& a) {
  std::vector<BufData*> params = read_list(a, 0, "params");
  std::vector<BufData*> grads = read_list(a, 1, "grads");
  std::vector<BufData*> m = read_list(a, 2, "m");
  std::vector<BufData*> v = read_list(a, 3, "v");
  if (grads.size() != params.size() || m.size() != params.size() || v.size() != params.size()) {
    a.fail("params, grads, m and v must have the same length (got " + std::to_string(params.size()) + ", " +
           std::to_string(grads.size()) + ", " + std::to_string(m.size()) + ", " + std::to_string(v.size()) + ")");
  }
  float lr = static_cast<float>(a.number_in(4, "lr", 0, 1e30));
  float beta1 = static_cast<float>(a.number_in(5, "beta1", 0, 1, true));
  float beta2 = static_cast<float>(a.number_in(6, "beta2", 0, 1, true));
  float eps = static_cast<float>(a.number_in(7, "eps", 0, 1e30));
  float weight_decay = static_cast<float>(a.number_in(8, "weightDecay", 0, 1e30));
  int step = a.dim(9, "step", 1);
  std::vector<float*> p_ptrs, m_ptrs, v_ptrs;
  std::vector<const float*> g_ptrs;
  std::vector<size_t> sizes;
  for (size_t k = 0; k < params.size(); k++) {
    size_t n = params[k]->n;
    std::string idx = "[" + std::to_string(k) + "]";
    std::string shape_text = "params" + idx + " of " + std::to_string(n) + " floats";
    a.need(*grads[k], ("grads" + idx).c_str(), n, shape_text);
    a.need(*m[k], ("m" + idx).c_str(), n, shape_text);
    a.need(*v[k], ("v" + idx).c_str(), n, shape_text);
    p_ptrs.push_back(params[k]->ptr);
    g_ptrs.push_back(grads[k]->ptr);
    m_ptrs.push_back(m[k]->ptr);
    v_ptrs.push_back(v[k]->ptr);
    sizes.push_back(n);
  }
  if (params.empty()) return a.done();
  a.status(cgk_adam_step(p_ptrs.data(), g_ptrs.data(), m_ptrs.data(), v_ptrs.data(), sizes.data(),
                         static_cast<int>(params.size()), lr, beta1, beta2, eps, weight_decay, step));
  return a.done();
}

}  // namespace

void register_optim(Napi::Object exports) { define(exports, "adamStep", adam_step); }

}  // namespace glue
