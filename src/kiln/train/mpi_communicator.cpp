// The MPI communicator (compiled only when CMake found MPI). One object per
// process owns MPI_Init/MPI_Finalize; all calls come from the main thread.
#ifdef KILN_HAVE_MPI
#include <mpi.h>

#include <limits>

#include "kiln/base/error.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("{}: {}", what, std::string(text, static_cast<size_t>(length)));
}

int as_count(size_t n) {
  KILN_CHECK(n <= static_cast<size_t>(std::numeric_limits<int>::max()), "MPI message of {} elements is too large", n);
  return static_cast<int>(n);
}

class Mpi final : public Communicator {
 public:
  explicit Mpi(MPI_Comm comm) : comm_(comm), owns_comm_(true) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  Mpi() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    // Errors come back as codes (and become kiln errors) instead of aborting silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~Mpi() override {
    if (owns_comm_) {
      if (!pending_.empty()) MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      MPI_Comm_free(&comm_);
    }
    if (owns_mpi_) {
      if (!pending_.empty()) MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      MPI_Finalize();
    }
  }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(std::span<float> v) override { reduce(v.data(), v.size(), MPI_FLOAT); }
  void allreduce_sum(std::span<double> v) override { reduce(v.data(), v.size(), MPI_DOUBLE); }
  void allreduce_sum(std::span<int64_t> v) override { reduce(v.data(), v.size(), MPI_INT64_T); }

  void start_allreduce_sum(std::span<float> v) override {
    MPI_Request request;
    check(MPI_Iallreduce(MPI_IN_PLACE, v.data(), as_count(v.size()), MPI_FLOAT, MPI_SUM, comm_, &request),
          "MPI_Iallreduce");
    pending_.push_back(request);
  }
  void poll() override {
    if (pending_.empty()) return;
    int done = 0;
    MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
  }
  void wait_all() override {
    if (pending_.empty()) return;
    check(MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
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
    check(MPI_Alltoallv(send.data(), sc.data(), sd.data(), MPI_FLOAT, recv.data(), rc.data(), rd.data(), MPI_FLOAT,
                        comm_),
          "MPI_Alltoallv");
  }

  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send_counts) override {
    KILN_CHECK(static_cast<int>(send_counts.size()) == size_, "all_to_all_counts: {} counts for {} ranks",
               send_counts.size(), size_);
    std::vector<int64_t> received(send_counts.size());
    check(MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, received.data(), 1, MPI_INT64_T, comm_),
          "MPI_Alltoall");
    return received;
  }

  void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }
  // (The copy must be destroyed before the original, which finalises MPI.)
  std::unique_ptr<Communicator> duplicate() override {
    MPI_Comm copy;
    check(MPI_Comm_dup(comm_, &copy), "MPI_Comm_dup");
    return std::make_unique<Mpi>(copy);
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  void reduce(void* data, size_t n, MPI_Datatype type) {
    if (n == 0) return;
    check(MPI_Allreduce(MPI_IN_PLACE, data, as_count(n), type, MPI_SUM, comm_), "MPI_Allreduce");
  }

  MPI_Comm comm_ = MPI_COMM_WORLD;
  bool owns_comm_ = false;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
  std::vector<MPI_Request> pending_;
};

}  // namespace

std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace kiln::train
#endif
