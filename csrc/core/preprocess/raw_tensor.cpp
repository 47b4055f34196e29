#include "preprocess/raw_tensor.h"

#include <cstring>
#include <string>

#include "common/errors.h"

namespace sc {

void check_raw_tensor(std::size_t bytes, const TensorDesc& input) {
    if (bytes != input.bytes) {
        throw InputError("the tensor has " + std::to_string(bytes) + " bytes; the model input (" +
                         std::to_string(input.height) + "x" + std::to_string(input.width) + "x" +
                         std::to_string(input.channels) + ") takes exactly " + std::to_string(input.bytes));
    }
}

Geometry copy_raw_tensor(const uint8_t* data, std::size_t bytes, const TensorDesc& input) {
    check_raw_tensor(bytes, input);
    if (!input.data) throw InputError("the device has no input buffer");
    std::memcpy(input.data, data, bytes);
    Geometry g;
    g.src_w = g.dst_w = static_cast<float>(input.width);
    g.src_h = g.dst_h = static_cast<float>(input.height);
    g.frame_w = g.tensor_w = input.width;
    g.frame_h = g.tensor_h = input.height;
    return g;
}

}  // namespace sc
