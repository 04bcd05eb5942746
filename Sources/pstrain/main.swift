print("pstrain")
