#pragma once
// The processes of one training job and the collectives between them.
// `kiln train` launched by mpirun (one or many hosts) talks over MPI; run
// plainly it is a single process and every collective is the identity, so
// the two behave the same with one rank. MPI is optional at build time.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kiln::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "single" or "mpi"
  bool is_root() const { return rank() == 0; }

  // Element-wise sums over all ranks, in place.
  virtual void allreduce_sum(std::span<float> values) = 0;
  virtual void allreduce_sum(std::span<double> values) = 0;
  virtual void allreduce_sum(std::span<int64_t> values) = 0;
  // Starts a float sum and returns at once; wait_all() completes every one
  // started. All ranks must start them in the same order.
  virtual void start_allreduce_sum(std::span<float> values) = 0;
  virtual void poll() {}  // lets outstanding operations progress
  virtual void wait_all() = 0;
  // Rows to every rank and back: send_counts[r] floats go to rank r, in rank
  // order; recv_counts[r] come from rank r (exchange the counts first with
  // all_to_all_counts).
  virtual void alltoallv(std::span<const float> send, const std::vector<int64_t>& send_counts, std::span<float> recv,
                         const std::vector<int64_t>& recv_counts) = 0;
  virtual std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send_counts) = 0;
  virtual void barrier() = 0;
  // The same ranks with a separate message space: collectives on the copy
  // never pair with collectives on the original (expert exchanges during
  // backward run while gradient sums are in flight).
  virtual std::unique_ptr<Communicator> duplicate() = 0;
  // Ends the whole job (every rank) with this exit code, after the caller printed why.
  [[noreturn]] virtual void abort(int code) = 0;
};

// A single process: collectives are identities.
std::unique_ptr<Communicator> single_process_communicator();

// MPI when this process was started by mpirun (any number of ranks) and kiln
// was built with MPI; a single process otherwise. Started by mpirun with
// several ranks but built without MPI: an error saying how to get MPI.
std::unique_ptr<Communicator> make_communicator();

bool built_with_mpi();

}  // namespace kiln::train
