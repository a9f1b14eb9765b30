// Tests for model/phys_mem.hpp.
#include "model/phys_mem.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace mmref;

TEST(PhysMem, SparseReadWrite) {
  phys_mem m(46);
  EXPECT_EQ(m.read_u64(0x5000), 0u);
  m.write_u64(0x5008, 0xdeadbeef);
  EXPECT_EQ(m.read_u64(0x5008), 0xdeadbeefu);
  EXPECT_EQ(m.read_u8(0x5008), 0xefu);
  m.write_u8(0x5009, 0x11);
  EXPECT_EQ(m.read_u64(0x5008), 0xdead11efu);
  EXPECT_EQ(m.frames_stored(), 1u);
  EXPECT_FALSE(m.frame_is_zero(5));
  m.clear_frame(5);
  EXPECT_TRUE(m.frame_is_zero(5));
  EXPECT_EQ(m.frames_stored(), 0u);
}

TEST(PhysMem, OutOfRangeAndMisalignedThrow) {
  phys_mem m(40);
  EXPECT_THROW(m.read_u64(1ull << 40), std::out_of_range);
  EXPECT_THROW(m.write_u64(0x1004, 1), std::invalid_argument);
  EXPECT_THROW(phys_mem(60), std::invalid_argument);
}
