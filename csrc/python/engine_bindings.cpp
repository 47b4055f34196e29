#include "python/engine_bindings.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>

#include "common/errors.h"
#include "python/preprocess_bindings.h"
#include "preprocess/preprocess.h"
#include "preprocess/raw_tensor.h"
#include "python/keepalive.h"
#include "python/loop_notifier.h"
#include "scheduler/scheduler.h"
#include "scheduler/wake_fd.h"

namespace py = pybind11;

namespace sc {
namespace {

struct OutputMeta {
    py::dtype dtype;
    std::vector<py::ssize_t> shape;
    std::size_t offset;
};

// The engine's native half: the scheduler, and how it wakes the event loop: a descriptor the
// loop watches (add_reader), or, for loops that cannot watch one, a thread that calls
// call_soon_threadsafe.
class EngineCore {
public:
    EngineCore(std::vector<std::shared_ptr<Device>> devices, std::size_t depth, py::object loop,
               py::object on_completions, bool failover, std::string name,
               std::vector<std::tuple<std::string, std::vector<py::ssize_t>, std::size_t>> outputs,
               int worker_nice, std::vector<int> stages,
               std::vector<std::vector<std::tuple<int, std::size_t, std::size_t>>> feeds)
        : input_(devices.at(0)->input()) {
        if (stages.empty()) stages.assign(devices.size(), 0);
        std::vector<std::vector<Feed>> stage_feeds;
        for (auto& stage : feeds) {
            stage_feeds.emplace_back();
            for (auto& [input, offset, bytes] : stage) stage_feeds.back().push_back({input, offset, bytes});
        }
        if (stage_feeds.empty()) stage_feeds.emplace_back();
        for (auto& [dtype, shape, offset] : outputs) {
            outputs_.push_back({py::dtype(dtype), shape, offset});
        }
        notifier_ = std::make_unique<LoopNotifier>(loop.attr("call_soon_threadsafe"),
                                                   std::move(on_completions), "sc-notify");
        // Workers call this; they start after start() has set `watched_` and are joined before
        // the members it reads are destroyed (scheduler_ goes first).
        scheduler_ = std::make_unique<Scheduler>(
            std::move(devices), std::move(stages), std::move(stage_feeds), depth,
            [this] {
                if (watched_) {
                    wake_fd_.signal();
                } else {
                    notifier_->request();
                }
            },
            failover, std::move(name), worker_nice);
    }

    ~EngineCore() {
        if (!closed_) close(std::numeric_limits<double>::infinity());
        scheduler_.reset();  // with the GIL: jobs and devices release Python objects
    }

    // `watched`: the loop watches wake_fd() and drains when it is readable; otherwise a
    // notifier thread wakes it. Decided once, before the workers start.
    void start(bool watched) {
        if (!started_) {
            started_ = true;
            watched_ = watched;
            if (!watched) notifier_->start();
        }
        scheduler_->start();
    }

    int wake_fd() const { return wake_fd_.fd(); }

    // `extras`: (stage, input index, C-contiguous array) for inputs other than the image; the
    // arrays are held with the frame until the job is drained.
    // `release_gil`: for callers off the event loop (a source thread). Waking a worker can
    // hand it this core; with the GIL held, every other Python thread would wait meanwhile.
    void submit(uint64_t id, py::object view_obj, const PreprocessParams& params,
                std::vector<std::tuple<int, int, py::buffer>> extras, bool release_gil) {
        const FrameView& view = view_obj.cast<const FrameView&>();
        // Checked here so an ROI error is raised at the call, not on the future.
        plan_geometry(view.frame.width, view.frame.height, input_.width, input_.height, params);
        auto job = std::make_unique<Job>();
        job->id = id;
        job->frame = view.frame;
        job->params = params;
        if (extras.empty()) {
            job->keeper = hold_python(std::move(view_obj));
        } else {
            py::list held;
            held.append(std::move(view_obj));
            for (auto& [stage, input, buffer] : extras) {
                py::buffer_info info = buffer.request();
                if (info.strides.size() != info.shape.size()) throw InputError("extra inputs must be arrays");
                py::ssize_t expect = info.itemsize;
                for (std::size_t d = info.shape.size(); d-- > 0;) {
                    if (info.shape[d] > 1 && info.strides[d] != expect) {
                        throw InputError("extra inputs must be C-contiguous arrays");
                    }
                    expect *= info.shape[d];
                }
                job->extras.push_back({stage, input, info.ptr, static_cast<std::size_t>(info.size * info.itemsize)});
                held.append(buffer);
            }
            job->keeper = hold_python(std::move(held));
        }
        job->submitted = Clock::now();
        // A job dropped on a throw releases its Python objects through hold_python's deleter,
        // which takes the GIL itself.
        std::optional<py::gil_scoped_release> released;
        if (release_gil) released.emplace();
        scheduler_->submit(std::move(job));
    }

    // A tensor already in the input's layout: its buffer is held, not copied, until the worker
    // copies it into the device input.
    void submit_tensor(uint64_t id, py::object tensor) {
        std::shared_ptr<Py_buffer> held = hold_buffer(tensor);
        check_raw_tensor(static_cast<std::size_t>(held->len), input_);
        auto job = std::make_unique<Job>();
        job->id = id;
        job->raw = static_cast<const uint8_t*>(held->buf);
        job->raw_bytes = static_cast<std::size_t>(held->len);
        job->keeper = std::move(held);
        job->submitted = Clock::now();
        scheduler_->submit(std::move(job));
    }

    // Takes the wake-up without draining: the loop drains later, in one batch. Completions
    // meanwhile do not signal again (the scheduler's drain stays scheduled until drain()).
    void ack_wake() {
        if (watched_) wake_fd_.consume();
    }

    py::list drain() {
        // Before taking the jobs: a job completed after this read wakes the loop again.
        if (watched_) wake_fd_.consume();
        std::vector<std::unique_ptr<Job>> jobs = scheduler_->take_completed();
        py::list out;
        for (auto& job : jobs) out.append(to_python(*job));
        return out;  // jobs (and the frames they kept) are released here, under the GIL
    }

    bool close(double timeout) {
        bool stopped;
        {
            py::gil_scoped_release release;
            stopped = scheduler_->close(timeout);
            if (stopped) notifier_->stop();
        }
        closed_ = stopped;
        return stopped;
    }

    py::list stats() {
        py::list out;
        for (const DeviceStats& s : scheduler_->stats()) {
            py::dict d;
            d["name"] = s.name;
            d["stage"] = s.stage;
            d["healthy"] = s.healthy;
            d["inflight"] = s.inflight;
            d["frames"] = s.frames;
            d["errors"] = s.errors;
            d["busy_s"] = static_cast<double>(s.busy_ns) * 1e-9;
            d["retried"] = s.retried;
            out.append(d);
        }
        return out;
    }

    std::size_t capacity() const { return scheduler_->capacity(); }
    std::size_t num_stages() const { return scheduler_->num_stages(); }
    std::shared_ptr<Device> retire_device(std::size_t i) { return scheduler_->retire_device(i); }
    void install_device(std::size_t i, std::shared_ptr<Device> d) {
        if (!d) throw DeviceError("install_device needs a device");
        scheduler_->install_device(i, std::move(d));
    }
    void set_healthy(std::size_t device, bool healthy) { scheduler_->set_healthy(device, healthy); }

private:
    py::tuple to_python(Job& job) {
        const Geometry& g = job.geometry;
        // A stream's frames share one geometry: hand back the same tuple while it holds, so
        // the caller's cache hits on identity.
        if (!last_geometry_tuple_ || g != last_geometry_) {
            last_geometry_ = g;
            last_geometry_tuple_ = py::make_tuple(g.src_x, g.src_y, g.src_w, g.src_h, g.dst_x, g.dst_y,
                                                  g.dst_w, g.dst_h, g.frame_w, g.frame_h, g.tensor_w,
                                                  g.tensor_h);
        }
        py::object geometry = last_geometry_tuple_;
        py::tuple timings = py::make_tuple(job.queue_ns * 1e-6, job.preprocess_ns * 1e-6,
                                           job.invoke_ns * 1e-6, job.total_ns * 1e-6);
        py::object outputs = py::none();
        py::object error_class = py::none();
        py::object error_message = py::none();
        if (job.error) {
            try {
                std::rethrow_exception(job.error);
            } catch (const Error& e) {
                error_class = py::str(e.python_class());
                error_message = py::str(e.what());
            } catch (const std::exception& e) {
                error_class = py::str("InferenceError");
                error_message = py::str(e.what());
            }
        } else {
            // One capsule owns the block; every array is a view that keeps it alive.
            auto* holder = new std::shared_ptr<uint8_t>(std::move(job.outputs));
            py::capsule owner(holder, [](void* p) { delete static_cast<std::shared_ptr<uint8_t>*>(p); });
            py::list arrays;
            for (const OutputMeta& m : outputs_) {
                arrays.append(py::array(m.dtype, m.shape, holder->get() + m.offset, owner));
            }
            outputs = arrays;
        }
        return py::make_tuple(job.id, outputs, geometry, timings, job.device, job.attempts,
                              error_class, error_message);
    }

    TensorDesc input_;
    std::vector<OutputMeta> outputs_;
    std::unique_ptr<LoopNotifier> notifier_;
    WakeFd wake_fd_;
    bool watched_ = false;  // set once by start(), before the workers exist
    std::unique_ptr<Scheduler> scheduler_;
    Geometry last_geometry_;
    py::object last_geometry_tuple_;  // null until the first job
    bool started_ = false;
    bool closed_ = false;
};

}  // namespace

void bind_engine(py::module_& m) {
    py::class_<TensorMeta>(m, "TensorMeta", "A model tensor as a backend describes it.")
        .def(py::init([](std::string name, std::string dtype, std::vector<int64_t> shape, float scale,
                         int64_t zero_point) {
                 return TensorMeta{std::move(name), std::move(dtype), std::move(shape), scale, zero_point};
             }),
             py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("scale") = 0.0f,
             py::arg("zero_point") = 0)
        .def_readonly("name", &TensorMeta::name)
        .def_readonly("dtype", &TensorMeta::dtype)
        .def_readonly("shape", &TensorMeta::shape)
        .def_readonly("scale", &TensorMeta::scale)
        .def_readonly("zero_point", &TensorMeta::zero_point)
        .def("__repr__", [](const TensorMeta& t) { return "<TensorMeta " + t.name + " " + t.dtype + ">"; });

    py::class_<Device, std::shared_ptr<Device>>(m, "Device", "One model instance on one device (any backend).")
        .def_property_readonly("name", &Device::name)
        .def_property_readonly("kind", &Device::kind)
        .def_property_readonly("prefetch", &Device::prefetch)
        .def("describe_inputs", &Device::describe_inputs)
        .def("describe_outputs", &Device::describe_outputs)
        .def("set_output_layout",
             [](Device& d, const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
                 std::vector<OutputSpan> out;
                 for (auto& [offset, bytes] : spans) {
                     if (offset % 64 != 0) throw InputError("output offsets must be multiples of 64");
                     out.push_back({offset, bytes});
                 }
                 d.set_output_layout(std::move(out));
             },
             py::arg("spans"), "[(offset, bytes)] of each output inside an output block.")
        .def_property_readonly("output_bytes", &Device::output_bytes)
        .def_property_readonly("input_address",
                               [](const Device& d) { return reinterpret_cast<std::uintptr_t>(d.input().data); })
        .def_property_readonly("input_bytes", [](const Device& d) { return d.input().bytes; })
        .def_property_readonly(
            "image_input",
            [](const Device& d) {
                const auto& buffers = d.input_buffers();
                if (!d.has_image_input()) return -1;
                for (std::size_t i = 0; i < buffers.size(); ++i) {
                    if (buffers[i].data == d.input().data) return static_cast<int>(i);
                }
                return 0;  // a single-input device that lists no buffers
            },
            "The input preprocess fills (index in describe_inputs()), or -1 when it has none.")
        .def("ready", [](Device& d) {
            py::gil_scoped_release release;
            return d.ready();
        })
        .def(
            "invoke",
            [](Device& d) {
                // A probe run into a scratch block: the lane is idle while this runs.
                std::size_t bytes = std::max<std::size_t>(64, (d.output_bytes() + 63) / 64 * 64);
                std::unique_ptr<uint8_t, void (*)(void*)> block(
                    static_cast<uint8_t*>(std::aligned_alloc(64, bytes)), std::free);
                if (!block) throw std::bad_alloc();
                py::gil_scoped_release release;
                d.invoke(block.get());
            },
            "Runs the model once on whatever the input holds, outputs discarded (health probes, tests).")
        .def(
            "invoke_into",
            [](Device& d, py::buffer out) {
                py::buffer_info info = out.request(true);
                std::size_t size = static_cast<std::size_t>(info.size * info.itemsize);
                auto address = reinterpret_cast<std::uintptr_t>(info.ptr);
                if (size < d.output_bytes() || address % 64 != 0) {
                    throw InputError("invoke_into needs a writable 64-byte aligned buffer of at least " +
                                     std::to_string(d.output_bytes()) + " bytes");
                }
                py::gil_scoped_release release;
                d.invoke(static_cast<uint8_t*>(info.ptr));
            },
            py::arg("block"), "Runs the model once, leaving its outputs in `block` at the layout's spans.")
        .def("__repr__", [](const Device& d) { return "<Device " + d.name() + " " + d.kind() + ">"; });

    py::class_<EngineCore>(m, "EngineCore")
        .def(py::init<std::vector<std::shared_ptr<Device>>, std::size_t, py::object, py::object, bool,
                      std::string,
                      std::vector<std::tuple<std::string, std::vector<py::ssize_t>, std::size_t>>, int,
                      std::vector<int>, std::vector<std::vector<std::tuple<int, std::size_t, std::size_t>>>>(),
             py::arg("devices"), py::arg("depth"), py::arg("loop"), py::arg("on_completions"),
             py::arg("failover"), py::arg("name"), py::arg("outputs"), py::arg("worker_nice") = 5,
             py::arg("stages") = std::vector<int>(),
             py::arg("feeds") = std::vector<std::vector<std::tuple<int, std::size_t, std::size_t>>>(),
             "`stages`: each device's segment (pipelined models); `feeds[k]`: (input, offset, bytes) "
             "of segment k's inputs inside segment k-1's output block.")
        .def("start", &EngineCore::start, py::arg("watched") = false,
             "`watched`: the event loop watches wake_fd (add_reader) and drains when it is "
             "readable; otherwise a notifier thread calls loop.call_soon_threadsafe.")
        .def_property_readonly("wake_fd", &EngineCore::wake_fd)
        .def("submit", &EngineCore::submit, py::arg("id"), py::arg("view"), py::arg("params"),
             py::arg("extras") = std::vector<std::tuple<int, int, py::buffer>>(), py::arg("release_gil") = false)
        .def("submit_tensor", &EngineCore::submit_tensor, py::arg("id"), py::arg("tensor"))
        .def("drain", &EngineCore::drain)
        .def("ack_wake", &EngineCore::ack_wake)
        .def("close", &EngineCore::close, py::arg("timeout"))
        .def("stats", &EngineCore::stats)
        .def("set_healthy", &EngineCore::set_healthy, py::arg("device"), py::arg("healthy"))
        .def("retire_device", &EngineCore::retire_device, py::arg("device"))
        .def("install_device", &EngineCore::install_device, py::arg("device"), py::arg("replacement"))
        .def_property_readonly("capacity", &EngineCore::capacity)
        .def_property_readonly("num_stages", &EngineCore::num_stages);
}

}  // namespace sc
