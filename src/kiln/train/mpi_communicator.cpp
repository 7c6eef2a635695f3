// The MPI communicator (compiled only when CMake found MPI's headers). One
// object per process owns MPI_Init/MPI_Finalize; all calls come from the main
// thread. The MPI library is opened when a launcher starts kiln with several
// ranks rather than linked: linked, it and its seven dependencies cost every
// kiln command about 1.3 ms at start (base/shared_library.hpp).
#ifdef KILN_HAVE_MPI
#include <mpi.h>

#include <limits>

#include "kiln/base/error.hpp"
#include "kiln/base/shared_library.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

namespace {

// OpenMPI's library (with RTLD_GLOBAL, which its components need), then MPICH's.
constexpr const char* kMpiSonames[] = {"libmpi.so.40", "libmpi.so.12"};

SharedLibrary open_mpi() {
  for (const char* soname : kMpiSonames) {
    SharedLibrary library(soname, RTLD_NOW | RTLD_GLOBAL);
    if (library.loaded()) return library;
  }
  fail("started by mpirun with several ranks, but no MPI library ({} or {}) could be opened: install openmpi-bin",
       kMpiSonames[0], kMpiSonames[1]);
}

// The functions kiln calls and the predefined handles it uses. OpenMPI's
// handles are the addresses of objects in its library (its macros would link
// it); MPICH's are integer constants.
struct MpiApi {
  MpiApi() : library(open_mpi()) {
    bool found = library.bind(error_string, "MPI_Error_string") && library.bind(comm_rank, "MPI_Comm_rank") &&
                 library.bind(comm_size, "MPI_Comm_size") && library.bind(initialized, "MPI_Initialized") &&
                 library.bind(init_thread, "MPI_Init_thread") &&
                 library.bind(comm_set_errhandler, "MPI_Comm_set_errhandler") &&
                 library.bind(waitall, "MPI_Waitall") && library.bind(testall, "MPI_Testall") &&
                 library.bind(comm_free, "MPI_Comm_free") && library.bind(finalize, "MPI_Finalize") &&
                 library.bind(iallreduce, "MPI_Iallreduce") && library.bind(allreduce, "MPI_Allreduce") &&
                 library.bind(alltoallv, "MPI_Alltoallv") && library.bind(alltoall, "MPI_Alltoall") &&
                 library.bind(barrier, "MPI_Barrier") && library.bind(comm_dup, "MPI_Comm_dup") &&
                 library.bind(abort, "MPI_Abort");
#ifdef OPEN_MPI
    found = found && handle(comm_world, "ompi_mpi_comm_world") && handle(float32, "ompi_mpi_float") &&
            handle(float64, "ompi_mpi_double") && handle(int64, "ompi_mpi_int64_t") &&
            handle(sum, "ompi_mpi_op_sum") && handle(errors_return, "ompi_mpi_errors_return");
#else
    comm_world = MPI_COMM_WORLD;
    float32 = MPI_FLOAT;
    float64 = MPI_DOUBLE;
    int64 = MPI_INT64_T;
    sum = MPI_SUM;
    errors_return = MPI_ERRORS_RETURN;
#endif
    KILN_CHECK(found, "the MPI library lacks a function or handle kiln needs (is it the one kiln was built with?)");
  }

  SharedLibrary library;
  decltype(&MPI_Error_string) error_string = nullptr;
  decltype(&MPI_Comm_rank) comm_rank = nullptr;
  decltype(&MPI_Comm_size) comm_size = nullptr;
  decltype(&MPI_Initialized) initialized = nullptr;
  decltype(&MPI_Init_thread) init_thread = nullptr;
  decltype(&MPI_Comm_set_errhandler) comm_set_errhandler = nullptr;
  decltype(&MPI_Waitall) waitall = nullptr;
  decltype(&MPI_Testall) testall = nullptr;
  decltype(&MPI_Comm_free) comm_free = nullptr;
  decltype(&MPI_Finalize) finalize = nullptr;
  decltype(&MPI_Iallreduce) iallreduce = nullptr;
  decltype(&MPI_Allreduce) allreduce = nullptr;
  decltype(&MPI_Alltoallv) alltoallv = nullptr;
  decltype(&MPI_Alltoall) alltoall = nullptr;
  decltype(&MPI_Barrier) barrier = nullptr;
  decltype(&MPI_Comm_dup) comm_dup = nullptr;
  decltype(&MPI_Abort) abort = nullptr;
  MPI_Comm comm_world{};
  MPI_Datatype float32{}, float64{}, int64{};
  MPI_Op sum{};
  MPI_Errhandler errors_return{};

 private:
  template <typename Handle>
  bool handle(Handle& value, const char* object) {
    void* address = nullptr;
    if (!library.bind(address, object)) return false;
    value = reinterpret_cast<Handle>(address);
    return true;
  }
};

// Opened by the first communicator of the process, never closed: MPI cannot
// be initialised twice, and the library stays until the process ends.
const MpiApi& mpi() {
  static const MpiApi api;
  return api;
}

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  mpi().error_string(code, text, &length);
  fail("{}: {}", what, std::string(text, static_cast<size_t>(length)));
}

int as_count(size_t n) {
  KILN_CHECK(n <= static_cast<size_t>(std::numeric_limits<int>::max()), "MPI message of {} elements is too large", n);
  return static_cast<int>(n);
}

class Mpi final : public Communicator {
 public:
  explicit Mpi(MPI_Comm comm) : api_(mpi()), comm_(comm), owns_comm_(true) {
    api_.comm_rank(comm_, &rank_);
    api_.comm_size(comm_, &size_);
  }
  Mpi() : api_(mpi()), comm_(api_.comm_world) {
    int initialised = 0;
    api_.initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check(api_.init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    // Errors come back as codes (and become kiln errors) instead of aborting silently.
    api_.comm_set_errhandler(api_.comm_world, api_.errors_return);
    api_.comm_rank(api_.comm_world, &rank_);
    api_.comm_size(api_.comm_world, &size_);
  }
  ~Mpi() override {
    if (owns_comm_) {
      if (!pending_.empty()) api_.waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      api_.comm_free(&comm_);
    }
    if (owns_mpi_) {
      if (!pending_.empty()) api_.waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      api_.finalize();
    }
  }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(std::span<float> v) override { reduce(v.data(), v.size(), api_.float32); }
  void allreduce_sum(std::span<double> v) override { reduce(v.data(), v.size(), api_.float64); }
  void allreduce_sum(std::span<int64_t> v) override { reduce(v.data(), v.size(), api_.int64); }

  void start_allreduce_sum(std::span<float> v) override {
    MPI_Request request;
    check(api_.iallreduce(MPI_IN_PLACE, v.data(), as_count(v.size()), api_.float32, api_.sum, comm_, &request),
          "MPI_Iallreduce");
    pending_.push_back(request);
  }
  void poll() override {
    if (pending_.empty()) return;
    int done = 0;
    api_.testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
  }
  void wait_all() override {
    if (pending_.empty()) return;
    check(api_.waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    pending_.clear();
  }

  void alltoallv(std::span<const float> send, const std::vector<int64_t>& send_counts, std::span<float> recv,
                 const std::vector<int64_t>& recv_counts) override {
    std::vector<int> sc(static_cast<size_t>(size_)), sd(static_cast<size_t>(size_)), rc(static_cast<size_t>(size_)),
        rd(static_cast<size_t>(size_));
    size_t s_off = 0, r_off = 0;
    for (int r = 0; r < size_; ++r) {
      sc[r] = as_count(static_cast<size_t>(send_counts[r]));
      rc[r] = as_count(static_cast<size_t>(recv_counts[r]));
      sd[r] = as_count(s_off);
      rd[r] = as_count(r_off);
      s_off += static_cast<size_t>(send_counts[r]);
      r_off += static_cast<size_t>(recv_counts[r]);
    }
    KILN_CHECK(s_off == send.size() && r_off == recv.size(), "alltoallv: counts ({} / {}) do not match buffers ({} / {})",
               s_off, r_off, send.size(), recv.size());
    check(api_.alltoallv(send.data(), sc.data(), sd.data(), api_.float32, recv.data(), rc.data(), rd.data(),
                         api_.float32, comm_),
          "MPI_Alltoallv");
  }

  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send_counts) override {
    KILN_CHECK(static_cast<int>(send_counts.size()) == size_, "all_to_all_counts: {} counts for {} ranks",
               send_counts.size(), size_);
    std::vector<int64_t> received(send_counts.size());
    check(api_.alltoall(send_counts.data(), 1, api_.int64, received.data(), 1, api_.int64, comm_), "MPI_Alltoall");
    return received;
  }

  void barrier() override { check(api_.barrier(comm_), "MPI_Barrier"); }
  // (The copy must be destroyed before the original, which finalises MPI.)
  std::unique_ptr<Communicator> duplicate() override {
    MPI_Comm copy;
    check(api_.comm_dup(comm_, &copy), "MPI_Comm_dup");
    return std::make_unique<Mpi>(copy);
  }
  [[noreturn]] void abort(int code) override {
    api_.abort(api_.comm_world, code);
    std::_Exit(code);
  }

 private:
  void reduce(void* data, size_t n, MPI_Datatype type) {
    if (n == 0) return;
    check(api_.allreduce(MPI_IN_PLACE, data, as_count(n), type, api_.sum, comm_), "MPI_Allreduce");
  }

  const MpiApi& api_;
  MPI_Comm comm_;
  bool owns_comm_ = false;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
  std::vector<MPI_Request> pending_;
};

}  // namespace

std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace kiln::train
#endif
