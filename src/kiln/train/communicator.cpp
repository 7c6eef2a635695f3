#include "kiln/train/communicator.hpp"

#include <cstdlib>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::train {

#ifdef KILN_HAVE_MPI
std::unique_ptr<Communicator> mpi_communicator();  // mpi_communicator.cpp
#endif

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void allreduce_sum(std::span<float>) override {}
  void allreduce_sum(std::span<double>) override {}
  void allreduce_sum(std::span<int64_t>) override {}
  void start_allreduce_sum(std::span<float>) override {}
  void wait_all() override {}
  void alltoallv(std::span<const float> send, const std::vector<int64_t>&, std::span<float> recv,
                 const std::vector<int64_t>&) override {
    KILN_CHECK(send.size() == recv.size(), "alltoallv: {} floats sent, {} expected back", send.size(), recv.size());
    if (!send.empty()) std::memcpy(recv.data(), send.data(), send.size() * sizeof(float));
  }
  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send_counts) override { return send_counts; }
  void barrier() override {}
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<SingleProcess>(); }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

// Set by OpenMPI's, MPICH's and PMIx launchers in every process they start.
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return std::getenv("PMIX_RANK") != nullptr ? 2 : 0;
}

}  // namespace

std::unique_ptr<Communicator> single_process_communicator() { return std::make_unique<SingleProcess>(); }

bool built_with_mpi() {
#ifdef KILN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator() {
  const int world = launcher_world_size();
  if (world == 0) return single_process_communicator();
#ifdef KILN_HAVE_MPI
  return mpi_communicator();
#else
  KILN_CHECK(world <= 1,
             "started by mpirun with {} ranks, but this kiln was built without MPI: install libopenmpi-dev and "
             "openmpi-bin (scripts/install-deps.sh) and rebuild",
             world);
  return single_process_communicator();
#endif
}

}  // namespace kiln::train
